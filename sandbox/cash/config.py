"""What the configurations of the cash voucher networks (Efecty, OXXO) share."""

from __future__ import annotations

from pydantic import Field, field_validator

from payments_engine.sandbox.common.config import (
    DEFAULT_RETRY_DELAYS,
    SimulatorConfig,
    check_delays,
)


class CashSandboxConfig(SimulatorConfig):
    """How one cash network simulator behaves: the common settings and the voucher timings.

    The payout timings of the common settings (``settle_seconds``,
    ``late_success_seconds``, ``timeout_after_accept_seconds``) mean nothing to a cash
    network and are ignored; the float is credited with each confirmed payment, less
    the network's fee.

    Attributes:
        api_key: the bearer token every call to the network's API must carry.
        webhook_secret: the secret its notifications are signed with.
        webhook_url: where notifications go when a voucher names no URL of its own
            (the relay's ``/webhooks/<network>``); None sends none.
        confirmation_delay_seconds: from a payment at the shop to the network's
            confirmation of it (and its notification).
        shop_payment_delay_seconds: from the voucher's creation to the payment at the
            shop, in the scenarios that pay it (``01``, ``05``, ``06``, ``07``); halfway to
            the expiry if that comes sooner.
        late_payment_seconds: after the expiry, when the late payment of ``04`` is made
            and when the slow confirmation of ``07`` comes.
        voucher_lifetime_seconds: when set, every voucher expires this long after its
            creation, whatever expiry was asked for (tests and demos need not wait days).
        fee_bps: the network's fee on a confirmed payment, basis points of the amount,
            rounded half up to the unit the network writes.
        webhook_retry_delays: seconds between delivery attempts of a notification;
            attempts = len + 1.
        state_file: may be shared with the other simulators: each keeps its own
            documents.
    """

    confirmation_delay_seconds: float = Field(default=60.0, ge=0)
    shop_payment_delay_seconds: float = Field(default=5.0, ge=0)
    late_payment_seconds: float = Field(default=60.0, ge=0)
    voucher_lifetime_seconds: float | None = Field(default=None, gt=0)
    fee_bps: int = Field(default=0, ge=0, le=10_000)
    webhook_retry_delays: list[float] = Field(default_factory=lambda: list(DEFAULT_RETRY_DELAYS))

    @field_validator("webhook_retry_delays")
    @classmethod
    def _non_negative_delays(cls, delays: list[float]) -> list[float]:
        check_delays(delays)
        return delays
