"""The cash networks' configurations for ``payments sandbox`` and a local stack.

Each network runs only when both its ``PAYMENTS_<NAME>_API_KEY`` and
``PAYMENTS_<NAME>_WEBHOOK_SECRET`` are set (and not blank).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from payments_engine.runtime.settings import Settings
from payments_engine.sandbox.cash.config import CashSandboxConfig
from payments_engine.sandbox.efecty.config import EfectySandboxConfig
from payments_engine.sandbox.efecty.wire import PROVIDER as EFECTY
from payments_engine.sandbox.oxxo.config import OxxoSandboxConfig
from payments_engine.sandbox.oxxo.wire import PROVIDER as OXXO

ConfigT = TypeVar("ConfigT", bound=CashSandboxConfig)

DEV_CONFIRMATION_SECONDS = 10.0
"""How long a cash network takes to confirm a shop payment in a local stack (``payments
dev``): a quarter of an hour at Efecty, seconds here so a user sees it happen."""


def _credentials(settings: Settings, name: str) -> tuple[str, str] | None:
    provider = settings.providers.get(name)
    if provider is None or provider.api_key is None or provider.webhook_secret is None:
        return None
    api_key, secret = provider.api_key.get_secret_value(), provider.webhook_secret
    if not api_key or not secret.get_secret_value():
        return None
    return api_key, secret.get_secret_value()


def cash_configs(
    settings: Settings,
    *,
    efecty_webhook_url: str | None,
    oxxo_webhook_url: str | None,
    state_file: Path | None,
) -> tuple[EfectySandboxConfig | None, OxxoSandboxConfig | None]:
    """Efecty's and OXXO's configurations, each None when its credentials are not set.

    Raises:
        SystemExit: a network's settings are invalid (the message names the fields,
            never the values).
    """
    efecty = _config(settings, EFECTY, EfectySandboxConfig, efecty_webhook_url, state_file)
    oxxo = _config(settings, OXXO, OxxoSandboxConfig, oxxo_webhook_url, state_file)
    return efecty, oxxo


def _config(
    settings: Settings,
    name: str,
    kind: type[ConfigT],
    webhook_url: str | None,
    state_file: Path | None,
) -> ConfigT | None:
    credentials = _credentials(settings, name)
    if credentials is None:
        return None
    try:
        return kind(
            api_key=credentials[0],
            webhook_secret=credentials[1],
            webhook_url=webhook_url,
            # One file for every simulator: each keeps to its own documents.
            state_file=state_file,
        )
    except ValidationError as exc:
        fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
        raise SystemExit(
            f"invalid {name} settings ({fields}): check PAYMENTS_{name.upper()}_*"
        ) from None


def stack_configs(
    settings: Settings, timings: Mapping[str, Any]
) -> tuple[EfectySandboxConfig | None, OxxoSandboxConfig | None]:
    """Efecty's and OXXO's configurations in a local stack (``payments dev``, tests).

    Each network whose credentials the settings hold sends its notifications to the
    relay's ``/webhooks/<name>``, keeps its state in the sandbox's state file and
    confirms payments after :data:`DEV_CONFIRMATION_SECONDS`.

    Args:
        settings: the stack's settings (credentials, the relay's URL, the state file).
        timings: overrides of any configuration field (``sandbox_overrides``: shorter
            timings in tests, ``voucher_lifetime_seconds`` ...); fields a network does
            not have are ignored.
    """
    return (
        _stack_config(settings, EFECTY, EfectySandboxConfig, timings),
        _stack_config(settings, OXXO, OxxoSandboxConfig, timings),
    )


def _stack_config(
    settings: Settings, name: str, kind: type[ConfigT], timings: Mapping[str, Any]
) -> ConfigT | None:
    provider = settings.provider(name)
    if provider.api_key is None or provider.webhook_secret is None:
        return None
    fields: dict[str, Any] = {
        "confirmation_delay_seconds": DEV_CONFIRMATION_SECONDS,
        **{key: value for key, value in timings.items() if key in kind.model_fields},
    }
    return kind(
        api_key=provider.api_key.get_secret_value(),
        webhook_secret=provider.webhook_secret.get_secret_value(),
        webhook_url=f"{settings.relay_url}/webhooks/{name}",
        state_file=settings.sandbox_state_file,
        **fields,
    )
