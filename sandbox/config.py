"""Configuration of the sandbox hub, and the faults the admin API can inject at run time."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from payments_engine.domain.money import check_currency

DEFAULT_FLOAT_CURRENCIES = ("KES", "UGX", "TZS", "GHS", "RWF", "XOF", "NGN", "ZMW", "USD")
DEFAULT_FLOAT_MINOR = 10**12
DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 120.0)


def _default_floats() -> dict[str, int]:
    return dict.fromkeys(DEFAULT_FLOAT_CURRENCIES, DEFAULT_FLOAT_MINOR)


class SandboxConfig(BaseModel):
    """How one sandbox hub behaves: credentials, timings, webhook delivery and floats.

    Attributes:
        api_key: the bearer token every ``/hub`` call must carry.
        webhook_secret: HMAC secret the webhooks are signed with.
        webhook_url: where callbacks are POSTed (the relay's ``/webhooks/hub``); None
            sends no webhooks at all.
        settle_seconds: delay from acceptance to a transfer's final status.
        late_success_seconds: delay from acceptance to success in the late-success
            scenario (``...000008``).
        timeout_after_accept_seconds: how long the answer to an accepted payout is held
            in the timeout scenario (``...000005``), so the client times out.
        webhook_retry_delays: seconds between delivery attempts; attempts = len + 1.
        webhook_timeout_seconds: per-attempt timeout of a webhook delivery.
        float_balances: the hub's float per currency, in minor units; payouts debit it.
        seed: seed of the fault dice, for reproducible fault runs; None for random.
        tick_seconds: period of the background scheduler.
        state_file: SQLite file the hub keeps its transfers, webhook deliveries and floats
            in, so a restart on the same file forgets nothing (faults are not kept);
            None keeps everything in memory only.
    """

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=1, repr=False)
    webhook_secret: str = Field(min_length=1, repr=False)
    webhook_url: str | None
    settle_seconds: float = Field(default=1.0, ge=0)
    late_success_seconds: float = Field(default=180.0, ge=0)
    timeout_after_accept_seconds: float = Field(default=30.0, ge=0)
    webhook_retry_delays: list[float] = Field(default_factory=lambda: list(DEFAULT_RETRY_DELAYS))
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    float_balances: dict[str, int] = Field(default_factory=_default_floats)
    seed: int | None = None
    tick_seconds: float = Field(default=0.05, gt=0)
    state_file: Path | None = None

    @field_validator("webhook_retry_delays")
    @classmethod
    def _non_negative_delays(cls, delays: list[float]) -> list[float]:
        if any(delay < 0 for delay in delays):
            raise ValueError("retry delays cannot be negative")
        return delays

    @field_validator("float_balances")
    @classmethod
    def _known_currencies(cls, floats: dict[str, int]) -> dict[str, int]:
        for currency, amount in floats.items():
            check_currency(currency)
            if amount < 0:
                raise ValueError(f"the {currency} float cannot be negative")
        return floats


class Faults(BaseModel):
    """Faults injected into the hub API and its webhooks; all off by default.

    Attributes:
        error_rate: share of hub calls answered 503 before anything is done.
        error_after_execute_rate: share of payout submissions that are executed and then
            answered 500: the ambiguous failure an adapter must resolve by a status query.
        latency_ms: delay added before answering any hub call.
        duplicate_webhooks: deliver every webhook twice (same event id).
        out_of_order_webhooks: after every final webhook, also deliver a stale pending
            (MR102) webhook with its own event id.
        hold_submissions: payout submissions are executed, then their answers are held
            until this is switched off (or the client hangs up): callers stay in flight
            for as long as a test needs, e.g. to kill a worker mid-submission.
    """

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_after_execute_rate: float = Field(default=0.0, ge=0, le=1)
    latency_ms: int = Field(default=0, ge=0, le=600_000)
    duplicate_webhooks: bool = False
    out_of_order_webhooks: bool = False
    hold_submissions: bool = False
