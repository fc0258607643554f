"""Configuration of the Efecty simulator (PayU's ``EFECTY`` cash method, Colombia)."""

from __future__ import annotations

from pydantic import Field, field_validator

from payments_engine.domain.webhooks import HMAC_T_V1
from payments_engine.sandbox.cash.config import CashSandboxConfig

MAX_ATTEMPTS = 9
"""PayU retries a confirmation up to 9 times in all."""


class EfectySandboxConfig(CashSandboxConfig):
    """How one Efecty simulator behaves: the cash networks' settings with Efecty's defaults.

    Attributes:
        api_key: the bearer token every ``/efecty`` call must carry.
        webhook_secret: the HMAC secret its notifications are signed with (``X-Signature:
            t=..,v1=..``).
        webhook_url: where notifications go when a transaction names no ``notifyUrl``
            (the relay's ``/webhooks/efecty``); None sends none.
        confirmation_delay_seconds: Efecty confirms a payment at the shop about 15
            minutes after it is made.
        fee_bps: 2.9 % of the amount, rounded half up to whole pesos.
        webhook_retry_delays: the first 8 delays are kept: a notification is attempted 9
            times at most.
        merchant_id: the merchant's id at PayU, in every notification.
    """

    # X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>.
    signature_scheme = HMAC_T_V1

    confirmation_delay_seconds: float = Field(default=900.0, ge=0)
    fee_bps: int = Field(default=290, ge=0, le=10_000)
    merchant_id: str = Field(default="508029", min_length=1, max_length=20)

    @field_validator("webhook_retry_delays")
    @classmethod
    def _at_most_nine_attempts(cls, delays: list[float]) -> list[float]:
        # Cut, not refused: delays shared by every simulator (a stack's overrides) may be
        # longer; Efecty gives up after its ninth attempt whatever they say.
        return delays[: MAX_ATTEMPTS - 1]
