"""Parsers turning each provider's raw webhook bytes into a :class:`ProviderEvent`."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from payments_engine.activities.hub import CONFIRM_WEBHOOKS as HUB_CONFIRMS_WEBHOOKS
from payments_engine.domain.events import ProviderEvent, reported_amount
from payments_engine.domain.hub import PROVIDER_NAME as HUB
from payments_engine.domain.hub import HubCallback


class MalformedEvent(ValueError):
    """A webhook body is not a valid event of its provider (bad JSON, fields, codes)."""


def _describe(exc: ValidationError) -> str:
    # Only locations and error types: pydantic's own message quotes the input, and the
    # body holds personal data (phone numbers, names) that must not reach logs.
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '<body>'} ({error['type']})"
        for error in exc.errors(include_input=False, include_url=False)
    ]
    return ", ".join(problems)


def parse_hub(body: bytes) -> ProviderEvent:
    """Parse a hub ``transactionStatus`` callback.

    Args:
        body: the raw request body, already authenticated.

    Returns:
        The normalised event; its reference is our ``thirdPartyTransId``.

    Raises:
        MalformedEvent: invalid JSON or UTF-8, a missing field or an unknown status code.
    """
    try:
        callback = HubCallback.model_validate_json(body)
    except ValidationError as exc:
        # ``from None``: a chained ValidationError would carry the body into tracebacks.
        raise MalformedEvent(f"invalid hub callback: {_describe(exc)}") from None
    status = callback.status
    return ProviderEvent(
        provider=HUB,
        event_id=callback.event_id,
        reference=callback.third_party_trans_id,
        outcome=status.outcome,
        provider_status=status.value,
        provider_transaction_id=callback.transaction_id,
        failure_code=status.failure_code,
        message=callback.message,
        occurred_at=callback.timestamp,
        currency=callback.currency,
        amount_reported=callback.send_amount,
        amount_minor=reported_amount(callback.send_amount, callback.currency),
        needs_confirmation=HUB_CONFIRMS_WEBHOOKS,
    )


PARSERS: dict[str, Callable[[bytes], ProviderEvent]] = {HUB: parse_hub}
"""Provider name -> parser of its webhook bodies."""
