"""Configuration of the OXXO simulator (Stripe's OXXO vouchers, Mexico)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS
from payments_engine.sandbox.cash.config import CashSandboxConfig

SECRET_PREFIX = "whsec_"


class OxxoSandboxConfig(CashSandboxConfig):
    """How one OXXO simulator behaves: the cash networks' settings with OXXO's defaults.

    Attributes:
        api_key: the bearer token every ``/oxxo`` call must carry.
        webhook_secret: the Standard Webhooks secret (``whsec_<base64>``) its
            notifications are signed with.
        webhook_url: where notifications go (the relay's ``/webhooks/oxxo``); None sends
            none.
        confirmation_delay_seconds: OXXO confirms a payment at the shop a minute or so
            after it is made.
        fee_bps: 3.6 % of the amount, rounded half up to the centavo.
    """

    # A refused secret must not reach an error message or a log.
    model_config = ConfigDict(hide_input_in_errors=True)

    # webhook-id (the event id), webhook-timestamp, webhook-signature: v1,<base64>.
    signature_scheme = STANDARD_WEBHOOKS

    confirmation_delay_seconds: float = Field(default=60.0, ge=0)
    fee_bps: int = Field(default=360, ge=0, le=10_000)

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
