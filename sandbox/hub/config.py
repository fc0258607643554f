"""Configuration of the sandbox hub."""

from __future__ import annotations

from pydantic import Field, field_validator

from payments_engine.domain.webhooks import HMAC_T_V1
from payments_engine.sandbox.common.config import (
    DEFAULT_RETRY_DELAYS,
    SimulatorConfig,
    check_delays,
)


class SandboxConfig(SimulatorConfig):
    """How one sandbox hub behaves: the common settings and its webhook retries.

    Attributes:
        api_key: the bearer token every ``/hub`` call must carry.
        webhook_secret: HMAC secret the webhooks are signed with (``X-Signature:
            t=..,v1=..``, the ``HMAC_T_V1`` scheme of :attr:`signature_scheme`).
        webhook_url: where callbacks are POSTed (the relay's ``/webhooks/hub``); None
            sends no webhooks at all.
        late_success_seconds: the delay of the late-success scenario (``...000008``), and
            how long after its window a late payer approves a collection (``...000013``)
            and after its processing a refund is reversed (``...92``).
        timeout_after_accept_seconds: how long the answer to an accepted payout is held
            in the timeout scenarios (payouts ``...000005``, refunds ``...94``).
        webhook_retry_delays: seconds between delivery attempts; attempts = len + 1.
        collection_fee_bps: the hub's fee on a paid collection, in basis points of its
            amount (150 = 1.5 %), rounded half up to the currency's minor unit.
        refund_window_days: a collection can be refunded for this many days after it
            was paid.
        state_file: the hub keeps its transfers, collections, refunds, webhook
            deliveries and floats there, so a restart on the same file forgets nothing.
    """

    # X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>, as the hub signs them.
    signature_scheme = HMAC_T_V1

    webhook_retry_delays: list[float] = Field(default_factory=lambda: list(DEFAULT_RETRY_DELAYS))
    # At most the whole amount: a fee above 100 % would leave the float poorer after a payment.
    collection_fee_bps: int = Field(default=150, ge=0, le=10_000)
    refund_window_days: int = Field(default=180, ge=0)

    @field_validator("webhook_retry_delays")
    @classmethod
    def _non_negative_delays(cls, delays: list[float]) -> list[float]:
        check_delays(delays)
        return delays
