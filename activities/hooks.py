"""The merchant's hooks: one call, once per idempotency key, read the same way by all.

Cash orders hold and release stock through them; reconciliation, batch breakers and the
float watch raise alerts through ``/v1/alerts``. Every call carries an
``Idempotency-Key``, so a retried activity is a repeat the hook records once.
"""

from __future__ import annotations

from typing import Any

import httpx

from payments_engine.activities.protocol import to_application_error
from payments_engine.activities.providers.base import Transient, read_status

ALERT_PATH = "/v1/alerts"


async def call_hook(
    hooks: httpx.AsyncClient, path: str, body: dict[str, Any], key: str, what: str
) -> None:
    """POST ``body`` to the merchant's hook ``path`` with ``Idempotency-Key: key``.

    Args:
        hooks: the merchant hooks' client (base URL, token).
        path: the hook.
        body: JSON body.
        key: the call's idempotency key.
        what: the hook's name in messages (``merchant alert hook``).

    Raises:
        ApplicationError: retryable while the hook is unreachable or answers 5xx;
            final when it refuses (4xx: a bad body or token is not fixed by retrying).
    """
    try:
        response = await hooks.post(path, json=body, headers={"Idempotency-Key": key})
    except httpx.TransportError as exc:
        raise to_application_error(Transient(f"{what} unreachable: {type(exc).__name__}")) from None
    fault = read_status(response.status_code, what, submitting=True)
    if fault is not None:
        raise to_application_error(fault) from None


async def raise_alert(
    hooks: httpx.AsyncClient,
    key: str,
    kind: str,
    subject: str,
    message: str,
    details: dict[str, Any],
) -> None:
    """Raise one alert at the merchant's ``/v1/alerts`` (see :func:`call_hook`)."""
    body = {"kind": kind, "subject": subject, "message": message, "details": details}
    await call_hook(hooks, ALERT_PATH, body, key, "merchant alert hook")
