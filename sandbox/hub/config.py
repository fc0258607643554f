"""Configuration of the sandbox hub."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from payments_engine.sandbox.common.config import (
    DEFAULT_RETRY_DELAYS,
    check_delays,
    check_floats,
    default_floats,
)


class SandboxConfig(BaseModel):
    """How one sandbox hub behaves: credentials, timings, webhook delivery and floats.

    Attributes:
        api_key: the bearer token every ``/hub`` call must carry.
        webhook_secret: HMAC secret the webhooks are signed with (``X-Signature:
            t=..,v1=..``, the ``HMAC_T_V1`` scheme).
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
    float_balances: dict[str, int] = Field(default_factory=default_floats)
    seed: int | None = None
    tick_seconds: float = Field(default=0.05, gt=0)
    state_file: Path | None = None

    @field_validator("webhook_retry_delays")
    @classmethod
    def _non_negative_delays(cls, delays: list[float]) -> list[float]:
        check_delays(delays)
        return delays

    @field_validator("float_balances")
    @classmethod
    def _known_currencies(cls, floats: dict[str, int]) -> dict[str, int]:
        return check_floats(floats)
