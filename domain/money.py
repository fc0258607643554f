"""Money as an integer amount of minor units plus the code of a currency the engine pays in.

Floats never appear: amounts are converted to and from a provider's decimal strings
only at the adapter edge, with the currency's exponent taken from babel's CLDR data.

Input is strict, the same for the typed client and the CLI (both go through
:meth:`Money.from_major` and the :data:`Currency` field type):

- an amount is a plain decimal string: ASCII digits, optionally a ``.`` and at most the
  currency's decimals (``1500``, ``1500.0``, ``1500.00``, ``0.01`` for KES). No exponent
  (``1e3``), no other digits (``١٠``, ``１０``), no space anywhere, no sign (``+10``,
  ``-0``), no leading zero other than the one of ``0.x`` (``00.5``, ``007``), no ``.5``
  or ``5.``, no separators (``10,00``, ``1 000``), at most :data:`MAX_MINOR_DIGITS` digits
  once in minor units;
- a currency is one of :data:`SERVED_CURRENCIES`, given in any case (``kes``) and
  normalised to upper case by :func:`parse_currency`, the one place that does it.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from typing import Annotated

from babel.numbers import get_currency_precision
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from payments_engine.domain.errors import InvalidAmount, UnknownCurrency

# The currencies the engine's providers serve (the sandbox keeps a float in each of
# them: sandbox.common.config.DEFAULT_FLOAT_CURRENCIES, checked equal by a test). ISO's
# special codes (XXX "no currency", XTS "testing", XAU and the other metals, XDR ...)
# and historic codes are never in it.
SERVED_CURRENCIES: tuple[str, ...] = (
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

# Read babel's data files once, at import: workflows validate money while decoding their
# input inside the sandbox, where opening files is forbidden (and would not be
# deterministic anyway).
_EXPONENTS: dict[str, int] = {code: int(get_currency_precision(code)) for code in SERVED_CURRENCIES}

# Amounts are stored as 64-bit integers of minor units (below 9.2 * 10^18).
MAX_MINOR_DIGITS = 18

# A plain decimal: "0" or digits without a leading zero, then optionally "." and digits.
# [0-9] (not \d) so that only ASCII digits match; fullmatch, so no trailing newline.
_PLAIN_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]+))?")
_EXPONENT_FORM = re.compile(r"[0-9.]*[0-9][0-9.]*[eE][+-]?[0-9]+")
_LEADING_ZEROS = re.compile(r"0+[0-9]+(?:\.[0-9]+)?")


def check_currency(code: str) -> str:
    """Return ``code`` if it is exactly the code of a currency the engine pays in.

    Case-sensitive (providers write codes in upper case); :func:`parse_currency` is the
    lenient version for input.

    Raises:
        UnknownCurrency: naming the code and the currencies the engine pays in.
    """
    if not isinstance(code, str) or code not in _EXPONENTS:
        raise _not_served(code)
    return code


def parse_currency(value: str) -> str:
    """A currency code as typed (``kes``, ``KES``), upper-cased and checked.

    The one place input codes are normalised: the :data:`Currency` field type and
    :meth:`Money.from_major` use it, callers do not upper-case.

    Raises:
        UnknownCurrency: not the code of a currency the engine pays in.
    """
    # ASCII only before upper-casing: "uſd".upper() is "USD".
    if isinstance(value, str) and value.isascii() and value.upper() in _EXPONENTS:
        return value.upper()
    raise _not_served(value)


def _not_served(value: object) -> UnknownCurrency:
    shown = _shown(value) if isinstance(value, str) else f"a {type(value).__name__}"
    return UnknownCurrency(
        f"{shown} is not a currency the engine pays in ({', '.join(SERVED_CURRENCIES)})"
    )


def currency_exponent(code: str) -> int:
    """Number of decimals of the currency's minor unit (UGX 0, KES 2)."""
    return _EXPONENTS[check_currency(code)]


Currency = Annotated[str, AfterValidator(parse_currency)]


def _shown(text: str, limit: int = 32) -> str:
    """``text`` quoted for an error message, cut short: input can be long."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _amount_text(value: object) -> str:
    if isinstance(value, bool | float) or not isinstance(value, str | int | Decimal):
        raise InvalidAmount(
            f"give the amount as a decimal string such as '1500.00', not a {type(value).__name__}"
        )
    return value if isinstance(value, str) else str(value)


def _why_not_plain(text: str) -> str:
    """Why ``text``, which is not a plain decimal, is refused; the most useful reason."""
    shown = _shown(text)
    if text == "":
        return "no amount given; write one such as '1500.00'"
    if any(ch.isspace() for ch in text):
        return f"{shown} contains spaces; write the amount without any, e.g. '1000.50'"
    if text[0] == "-":
        return f"{shown} has a minus sign; amounts are greater than zero, written without a sign"
    if text[0] == "+":
        return f"{shown} has a sign; write the amount without one, e.g. '1500.00'"
    if not text.isascii():
        if any(ch.isdigit() or ch.isnumeric() for ch in text):
            return f"{shown} has digits other than the ASCII digits 0-9"
        return f"{shown} has characters other than the ASCII digits 0-9 and '.'"
    if _EXPONENT_FORM.fullmatch(text):
        return f"{shown} has an exponent; write the digits out, e.g. '1000'"
    if _LEADING_ZEROS.fullmatch(text):
        stripped = text.lstrip("0")
        suggestion = "0" + stripped if stripped.startswith(".") or not stripped else stripped
        return f"{shown} has a leading zero; write {suggestion!r}"
    if text.startswith(".") and _PLAIN_DECIMAL.fullmatch("0" + text):
        return f"{shown} needs a digit before the '.', e.g. {'0' + text!r}"
    if text.endswith(".") and _PLAIN_DECIMAL.fullmatch(text[:-1]):
        return f"{shown} needs digits after the '.', or no '.': {text[:-1]!r}"
    if "," in text or "_" in text or "'" in text:
        return f"{shown} has a separator; write '.' for decimals and nothing between thousands"
    return f"{shown} is not a decimal amount such as '1500.00'"


def major_to_minor(value: str | int | Decimal, currency: str) -> int:
    """Minor units of the major-unit amount ``value`` ("1500.50") of ``currency`` (checked).

    The one place the amount rules (module docstring) are applied, on the text as
    given, before anything is parsed: no :class:`~decimal.Decimal`, whose parser accepts
    exponents, other scripts' digits and surrounding space. Zero is a valid amount here;
    payouts and fundings refuse it themselves.

    Raises:
        InvalidAmount: not a plain decimal, more decimals than the currency, too large.
        UnknownCurrency: ``currency`` is not a currency the engine pays in.
    """
    exponent = currency_exponent(currency)
    text = _amount_text(value)
    match = _PLAIN_DECIMAL.fullmatch(text)
    if match is None:
        raise InvalidAmount(_why_not_plain(text))
    whole, decimals = match.group(1), match.group(2) or ""
    if len(decimals) > exponent:
        raise InvalidAmount(f"{currency} has {exponent} decimal places; {_shown(text)} has more")
    if whole != "0" and len(whole) + exponent > MAX_MINOR_DIGITS:
        raise InvalidAmount(
            f"{_shown(text)} is too large: {currency} amounts have at most"
            f" {MAX_MINOR_DIGITS - exponent} digits before the '.'"
        )
    return int(whole + decimals.ljust(exponent, "0"))


class Money(BaseModel):
    """An amount of money: integer minor units and a currency code."""

    model_config = ConfigDict(frozen=True)

    amount: int = Field(description="Amount in minor units of the currency (cents, shillings).")
    currency: Currency

    @field_validator("amount", mode="before")
    @classmethod
    def _whole_minor_units(cls, value: object) -> object:
        # Lax int validation would take True as 1 and 1500.0 as 1500, also from JSON.
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidAmount(
                f"minor units are a whole number (int), not a {type(value).__name__}"
            )
        return value

    @classmethod
    def from_major(cls, value: str | int | Decimal, currency: str) -> Money:
        """Parse a major-unit amount such as "1500.50" KES, refusing excess decimals.

        ``currency`` is normalised as the :data:`Currency` field does (``kes`` is KES);
        the amount follows the rules of :func:`major_to_minor`. The currency is checked
        first: it decides how many decimals the amount may have.

        Raises:
            InvalidAmount: the value is not a plain decimal amount, has more decimals
                than the currency, or is too large.
            UnknownCurrency: the currency is not one the engine pays in.
        """
        code = parse_currency(currency)
        return cls(amount=major_to_minor(value, code), currency=code)

    def to_major(self) -> str:
        """Format as a major-unit decimal string with exactly the currency's decimals."""
        exponent = currency_exponent(self.currency)
        with localcontext() as ctx:
            ctx.prec = len(str(abs(self.amount))) + exponent + 1
            dec = Decimal(self.amount).scaleb(-exponent)
        return f"{dec:.{exponent}f}"

    def __str__(self) -> str:
        return f"{self.to_major()} {self.currency}"
