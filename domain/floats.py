"""The provider float: the prefunded money a provider pays out from, and its watch.

A provider that pays out for us does so from a float we fund in advance, per currency.
``FloatWatchWorkflow`` reads it (``get_float``), compares each watched currency with its
threshold and raises one alert per currency below it, at most once per hour: the
alert's idempotency key names the provider, the currency and the hour of the check.

Amounts are minor units. These models are pure (no I/O), so the workflow imports them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field, field_validator

from payments_engine.domain.money import parse_currency

FLOAT_WATCH_PREFIX = "float-watch-"
ALERT_KEY_PREFIX = "float-"


def float_watch_schedule_id(provider: str) -> str:
    """``float-watch-{provider}``: the Temporal Schedule of a provider's float watch."""
    return f"{FLOAT_WATCH_PREFIX}{provider}"


def float_alert_key(provider: str, currency: str, moment: datetime) -> str:
    """``float-{provider}-{currency}-{YYYY-MM-DDTHH}``: one low-float alert per UTC hour.

    Args:
        provider: the provider whose float is low.
        currency: the currency it is low in.
        moment: when the check was due (the schedule's slot) or ran; aware, any zone.
    """
    hour = moment.astimezone(UTC).strftime("%Y-%m-%dT%H")
    return f"{ALERT_KEY_PREFIX}{provider}-{currency}-{hour}"


class FloatInput(BaseModel):
    """Input of ``get_float``: whose float to read."""

    provider: str = Field(min_length=1)


class FloatBalances(BaseModel):
    """Output of ``get_float``: the provider's float per currency when it was read.

    Attributes:
        balances: currency -> minor units available to pay out (negative: overdrawn).
        at: when the provider answered (the worker's clock, UTC).
    """

    provider: str
    balances: dict[str, int]
    at: datetime


class FloatWatchRequest(BaseModel):
    """Input of ``FloatWatchWorkflow``: the provider and the floats it must keep.

    Attributes:
        thresholds: currency -> minor units; a float strictly below its threshold is
            low. A watched currency the provider states no float in has none (0).
    """

    provider: str = Field(min_length=1)
    thresholds: dict[str, int]

    @field_validator("thresholds")
    @classmethod
    def _currencies_and_amounts(cls, thresholds: dict[str, int]) -> dict[str, int]:
        checked: dict[str, int] = {}
        for currency, amount in thresholds.items():
            if amount < 0:
                raise ValueError(f"the {currency} threshold cannot be negative")
            checked[parse_currency(currency)] = amount
        return checked


class FloatAlert(BaseModel):
    """Input of ``alert_low_float``: one currency's float is below its threshold.

    Attributes:
        key: the alert's idempotency key (:func:`float_alert_key`).
        balance: the float now, minor units.
        threshold: what it must not fall below, minor units.
    """

    key: str
    provider: str
    currency: str
    balance: int
    threshold: int


class FloatWatchResult(BaseModel):
    """Output of ``FloatWatchWorkflow``.

    Attributes:
        balances: the float per currency as read.
        low: the watched currencies below their threshold, sorted.
        alerted: those whose alert the merchant's hook took (empty without a hook).
    """

    provider: str
    balances: dict[str, int]
    low: list[str]
    alerted: list[str] = Field(default_factory=list)
