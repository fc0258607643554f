"""Defaults and checks every simulator's configuration shares: floats and webhook retries."""

from __future__ import annotations

from collections.abc import Sequence

from payments_engine.domain.money import check_currency

DEFAULT_FLOAT_CURRENCIES = ("KES", "UGX", "TZS", "GHS", "RWF", "XOF", "NGN", "ZMW", "USD")
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
