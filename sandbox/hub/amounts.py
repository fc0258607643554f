"""The hub's reading of a money amount: a major-unit string with exactly its currency's decimals.

Payouts, collections and refunds all send amounts this way; each API turns an
:class:`AmountRefused` into its own error answer (code ``101`` for transactions,
``invalid_request`` for refunds).
"""

from __future__ import annotations

import re

from payments_engine.domain.errors import InvalidAmount, UnknownCurrency
from payments_engine.domain.money import Money, check_currency, currency_exponent


class AmountRefused(ValueError):
    """The currency is unknown, or the amount is not one the hub accepts in it."""


def parse_amount(amount: str, currency: str) -> Money:
    """The amount as money in minor units, if the hub accepts it.

    Args:
        amount: major units, e.g. ``"1500.00"`` KES or ``"1500"`` UGX.
        currency: ISO 4217 code, upper case.

    Raises:
        AmountRefused: unknown currency, other than exactly the currency's decimals, not a
            plain decimal, too large, or not positive.
    """
    try:
        check_currency(currency)
    except UnknownCurrency:
        raise AmountRefused(f"unknown currency {currency!r}") from None
    exponent = currency_exponent(currency)
    # Exactly the currency's decimals, as the hub formats them: "1500.00" KES, "1500" UGX.
    shape = rf"[0-9]+\.[0-9]{{{exponent}}}" if exponent else r"[0-9]+"
    example = "1500." + "0" * exponent if exponent else "1500"
    if not re.fullmatch(shape, amount):
        raise AmountRefused(
            f"{currency} amounts have exactly {exponent} decimal(s), e.g. {example!r};"
            f" got {amount!r}"
        )
    try:
        money = Money.from_major(amount, currency)
    except InvalidAmount as exc:
        raise AmountRefused(str(exc)) from None
    if money.amount <= 0:
        raise AmountRefused("the amount must be positive")
    return money


def fee_of(amount: int, bps: int) -> int:
    """``bps`` basis points of ``amount`` minor units, rounded half up, never negative."""
    # Integer arithmetic: 0.5 of a minor unit rounds up, with no float error on the way.
    return max(0, (amount * bps + 5_000) // 10_000)
