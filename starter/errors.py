"""Input mistakes in one format, ``<field>: <reason>``, for the CLI and the typed client.

The typed client raises pydantic's :class:`~pydantic.ValidationError` (a model refused
its fields) or a :class:`~payments_engine.domain.errors.ValidationFailed` (a check such
as :meth:`Money.from_major <payments_engine.domain.money.Money.from_major>`); the CLI
catches both and prints ``invalid input: `` followed by :func:`describe`. Field names
are the CLI's option names (``recipient_msisdn`` is ``phone``): this module is the one
place that maps them. Reasons never carry a phone number, only which field and why.

    >>> from payments_engine.domain.money import Money
    >>> try:
    ...     Money.from_major("1.001", "KES")
    ... except ValueError as exc:
    ...     describe(exc)
    "amount: KES has 2 decimal places; '1.001' has more"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from payments_engine.domain.errors import (
    InvalidAmount,
    InvalidMsisdn,
    InvalidReference,
    PaymentsError,
    ProviderNotConfigured,
    UnknownCurrency,
    ValidationFailed,
)

# Model fields whose CLI option has another name; the others keep theirs (amount,
# currency, country, provider, description, reference, note, outcome).
FIELD_NAMES: dict[str, str] = {
    "recipient_msisdn": "phone",
    "msisdn": "phone",
    "payout_id": "id",
    "merchant_id": "merchant",
    "payer_msisdn": "phone",
    "collection_id": "id",
    "refund_id": "id",
    "original_id": "original",
    "approval_window_seconds": "window",
    "card_id": "id",
    "first_name": "first-name",
    "last_name": "last-name",
    "date_of_birth": "dob",
    "number": "id-number",
    "type": "id-type",
    "per_authorization": "per-authorization",
    "daily_amount": "daily-amount",
    "daily_count": "daily-count",
    "allowed_countries": "countries",
    "blocked_categories": "block-mcc",
    "day_offset_minutes": "day-offset-minutes",
    "low_balance_threshold": "low-balance",
    "order_id": "id",
    "name": "payer-name",
    "document_type": "document-type",
    "document_number": "document-number",
    "expires_in_days": "expires-in-days",
    "bank_code": "bank-code",
    "account_type": "account-type",
    "account_number": "account-number",
    "holder_name": "holder-name",
    "bank_account": "bank account",
}

# The field of a domain error raised outside a model field (Money.from_major, a model
# validator of the whole request, the provider registry), most specific first.
_FIELD_OF_ERROR: tuple[tuple[type[ValidationFailed], str], ...] = (
    (ProviderNotConfigured, "provider"),
    (InvalidAmount, "amount"),
    (UnknownCurrency, "currency"),
    (InvalidMsisdn, "phone"),
    (InvalidReference, "id"),
)


class Problem(NamedTuple):
    """One input mistake: the field (CLI option name; None if unknown) and why."""

    field: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason


def problems(exc: BaseException) -> list[Problem]:
    """The input mistakes ``exc`` reports, one per refused field, in the order given."""
    if isinstance(exc, ValidationError):
        return [_problem_of(error) for error in exc.errors(include_url=False, include_input=False)]
    return [Problem(_field_of_error(exc), without_type_prefixes(str(exc)))]


def describe(exc: BaseException) -> str:
    """``<field>: <reason>`` of every mistake in ``exc``, joined by ``"; "``.

    ``amount: KES has 2 decimal places; '1.001' has more``,
    ``phone: belongs to UG, not KE``, ``provider: unknown provider 'mpesa'; known:
    hub, momo``.
    """
    return join(problems(exc))


def join(found: Iterable[Problem]) -> str:
    """The lines of ``found``, one per field (the first reason given for it), ``"; "``-joined."""
    seen: set[str | None] = set()
    lines = []
    for problem in found:
        if problem.field is not None and problem.field in seen:
            continue
        seen.add(problem.field)
        lines.append(str(problem))
    return "; ".join(lines)


def field_name(loc: Iterable[int | str]) -> str | None:
    """The CLI option name of a pydantic error location: its last field, renamed.

    ``("recipient_msisdn",)`` is ``phone``; ``("amount", "currency")`` (the currency of a
    :class:`Money`) is ``currency``; ``()`` (a check of the whole model) is None.
    """
    names = [part for part in loc if isinstance(part, str)]
    if not names:
        return None
    return FIELD_NAMES.get(names[-1], names[-1])


def without_type_prefixes(message: str) -> str:
    """``message`` without leading error type names: Temporal puts the type of a failure
    raised in a workflow before its message (``ValidationFailed: only a payout ...``)."""
    types = _error_types()
    while True:
        head, sep, rest = message.partition(": ")
        if not sep or head not in types:
            return message
        message = rest


def _problem_of(error: ErrorDetails) -> Problem:
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Exception):
        reason = without_type_prefixes(str(cause))
    else:
        reason = _sentence(error["msg"])
    field = field_name(error["loc"]) or (
        _field_of_error(cause) if isinstance(cause, Exception) else None
    )
    return Problem(field, reason)


def _field_of_error(exc: BaseException) -> str | None:
    for kind, field in _FIELD_OF_ERROR:
        if isinstance(exc, kind):
            return field
    return None


def _sentence(message: str) -> str:
    """pydantic's message as the reason after ``field: ``: "String should ..." -> "string ..."."""
    message = message.removeprefix("Value error, ")
    if message[:1].isupper() and message[1:2].islower():
        return message[0].lower() + message[1:]
    return message


def _error_types() -> set[str]:
    found: set[str] = set()
    pending: list[type[PaymentsError]] = [PaymentsError]
    while pending:
        cls = pending.pop()
        found.add(cls.type)
        pending.extend(cls.__subclasses__())
    return found
