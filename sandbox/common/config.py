"""What every simulator's configuration shares: its base model, float and retry defaults."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from payments_engine.domain.money import check_currency
from payments_engine.domain.webhooks import SignatureScheme

DEFAULT_FLOAT_CURRENCIES = (
    "KES",
    "UGX",
    "TZS",
    "GHS",
    "RWF",
    "XOF",
    "NGN",
    "ZMW",
    "USD",
    "COP",
    "MXN",
)
DEFAULT_FLOAT_MINOR = 10**12
DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 120.0)


def default_floats() -> dict[str, int]:
    """A float of :data:`DEFAULT_FLOAT_MINOR` minor units in every default currency."""
    return dict.fromkeys(DEFAULT_FLOAT_CURRENCIES, DEFAULT_FLOAT_MINOR)


def check_floats(floats: dict[str, int]) -> dict[str, int]:
    """Return ``floats`` if every currency is ISO 4217 and no amount is negative.

    Raises:
        ValueError: an unknown currency or a negative float.
    """
    for currency, amount in floats.items():
        check_currency(currency)
        if amount < 0:
            raise ValueError(f"the {currency} float cannot be negative")
    return floats


def check_delays(delays: Sequence[float]) -> None:
    """Refuse negative retry delays.

    Raises:
        ValueError: a delay is negative.
    """
    if any(delay < 0 for delay in delays):
        raise ValueError("retry delays cannot be negative")


class SimulatorConfig(BaseModel):
    """How one simulator behaves: credentials, timings, webhooks, floats and state file.

    Each simulator's configuration adds its own settings and says what its credentials
    and webhook URL mean to its provider.

    Attributes:
        api_key: the credential every call to the simulator's API must carry.
        webhook_secret: the secret its webhooks are signed with.
        webhook_url: where its webhooks are POSTed; None sends none.
        settle_seconds: delay from acceptance to a transfer's final status.
        late_success_seconds: delay to success in the late-success scenario.
        timeout_after_accept_seconds: how long the answer of the timeout scenario is
            held, so the client times out.
        webhook_timeout_seconds: per-attempt timeout of a webhook delivery.
        float_balances: the float per currency, in minor units; transfers debit it.
        seed: seed of the fault dice, for reproducible fault runs; None for random.
        tick_seconds: period of the background scheduler.
        state_file: SQLite file keeping transfers, webhooks and floats across restarts
            (faults are not kept); None keeps everything in memory only. Simulators may
            share one: each keeps to its own documents.
    """

    model_config = ConfigDict(extra="forbid")

    signature_scheme: ClassVar[SignatureScheme]
    """How the simulator signs its webhooks with ``webhook_secret``."""

    api_key: str = Field(min_length=1, repr=False)
    webhook_secret: str = Field(min_length=1, repr=False)
    webhook_url: str | None
    settle_seconds: float = Field(default=1.0, ge=0)
    late_success_seconds: float = Field(default=180.0, ge=0)
    timeout_after_accept_seconds: float = Field(default=30.0, ge=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    float_balances: dict[str, int] = Field(default_factory=default_floats)
    seed: int | None = None
    tick_seconds: float = Field(default=0.05, gt=0)
    state_file: Path | None = None

    @field_validator("float_balances")
    @classmethod
    def _known_currencies(cls, floats: dict[str, int]) -> dict[str, int]:
        return check_floats(floats)
