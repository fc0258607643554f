"""Configuration of the bank-transfer simulator."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS
from payments_engine.sandbox.common.config import (
    DEFAULT_RETRY_DELAYS,
    SimulatorConfig,
    check_delays,
)

SECRET_PREFIX = "whsec_"
DAY_SECONDS = 86_400.0


class BankSandboxConfig(SimulatorConfig):
    """How one bank simulator behaves: the common settings and its settlement delay.

    ``settle_seconds``, ``late_success_seconds`` and ``timeout_after_accept_seconds`` of
    the common settings mean nothing to the bank and are ignored: its transfers settle
    (or are returned) ``settlement_delay_seconds`` after acceptance.

    Attributes:
        api_key: the bearer token every ``/bank`` call must carry.
        webhook_secret: the Standard Webhooks secret (``whsec_<base64>``) its webhooks
            are signed with.
        webhook_url: where its webhooks are POSTed (the relay's ``/webhooks/bank``);
            None sends none.
        settlement_delay_seconds: from acceptance to SETTLED or RETURNED; a day by
            default, as an ACH batch takes; the slow scenario (``...07``) takes 3x.
        webhook_retry_delays: seconds between delivery attempts; attempts = len + 1.
        state_file: may be the hub's file: each simulator keeps its own documents.
    """

    # A refused secret must not reach an error message or a log.
    model_config = ConfigDict(hide_input_in_errors=True)

    # webhook-id, webhook-timestamp and webhook-signature: v1,<base64 HMAC-SHA256>.
    signature_scheme = STANDARD_WEBHOOKS

    settlement_delay_seconds: float = Field(default=DAY_SECONDS, ge=0)
    webhook_retry_delays: list[float] = Field(default_factory=lambda: list(DEFAULT_RETRY_DELAYS))

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, secret: str) -> str:
        try:
            cls.signature_scheme.check_secret(secret)
        except ValueError as exc:
            raise ValueError(
                f"not a Standard Webhooks secret ({SECRET_PREFIX}<base64>): {type(exc).__name__}"
            ) from None
        return secret

    @field_validator("webhook_retry_delays")
    @classmethod
    def _non_negative_delays(cls, delays: list[float]) -> list[float]:
        check_delays(delays)
        return delays
