"""Money as an integer amount of minor units plus an ISO 4217 currency code.

Floats never appear: amounts are converted to and from a provider's decimal strings
only at the adapter edge, with the currency's exponent taken from babel's CLDR data.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext
from typing import Annotated

from babel.numbers import get_currency_precision, list_currencies
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from payments_engine.domain.errors import InvalidAmount, UnknownCurrency

# Read babel's data files once, at import: workflows validate money while decoding their
# input inside the sandbox, where opening files is forbidden (and would not be
# deterministic anyway).
_EXPONENTS: dict[str, int] = {
    code: int(get_currency_precision(code)) for code in sorted(list_currencies())
}


def check_currency(code: str) -> str:
    """Return ``code`` if it is an ISO 4217 currency babel knows, else raise UnknownCurrency."""
    if not isinstance(code, str) or code not in _EXPONENTS:
        raise UnknownCurrency(f"unknown ISO 4217 currency code: {code!r}")
    return code


def currency_exponent(code: str) -> int:
    """Number of decimals of the currency's minor unit (UGX 0, KES 2)."""
    return _EXPONENTS[check_currency(code)]


# Amounts are stored as 64-bit integers of minor units (below 9.2 * 10^18).
MAX_MINOR_DIGITS = 18

Currency = Annotated[str, AfterValidator(check_currency)]


class Money(BaseModel):
    """An amount of money: integer minor units and a currency code."""

    model_config = ConfigDict(frozen=True)

    amount: int = Field(description="Amount in minor units of the currency (cents, shillings).")
    currency: Currency

    @classmethod
    def from_major(cls, value: str | int | Decimal, currency: str) -> Money:
        """Parse a major-unit amount such as "1500.50" KES, refusing excess decimals.

        Raises:
            InvalidAmount: the value is not a number or has more decimals than the currency.
            UnknownCurrency: the currency is not ISO 4217.
        """
        exponent = currency_exponent(currency)
        try:
            dec = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise InvalidAmount(f"not a decimal amount: {value!r}") from exc
        if not dec.is_finite():
            raise InvalidAmount(f"not a finite amount: {value!r}")
        if dec.adjusted() >= MAX_MINOR_DIGITS:
            raise InvalidAmount(f"amount {value!r} is too large")
        with localcontext() as ctx:
            # Enough digits that scaling never rounds: every decimal given is kept and judged.
            ctx.prec = len(dec.as_tuple().digits) + exponent + 2
            scaled = dec.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise InvalidAmount(f"{currency} has {exponent} decimal place(s); {value!r} has more")
        if abs(scaled) >= 10**MAX_MINOR_DIGITS:
            raise InvalidAmount(f"amount {value!r} is too large")
        return cls(amount=int(scaled), currency=currency)

    def to_major(self) -> str:
        """Format as a major-unit decimal string with exactly the currency's decimals."""
        exponent = currency_exponent(self.currency)
        with localcontext() as ctx:
            ctx.prec = len(str(abs(self.amount))) + exponent + 1
            dec = Decimal(self.amount).scaleb(-exponent)
        return f"{dec:.{exponent}f}"

    def __str__(self) -> str:
        return f"{self.to_major()} {self.currency}"
