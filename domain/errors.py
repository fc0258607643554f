"""The engine's one error hierarchy.

Every business failure has a stable ``type`` string that crosses the Temporal boundary as
``ApplicationError(type=..., non_retryable=True)``; transient failures are plain
exceptions that Temporal retries with backoff.

    PaymentsError
    ├── ValidationFailed            bad input: nothing is started
    │   ├── InvalidAmount           zero, negative, or too many decimals for the currency
    │   ├── UnknownCurrency         not an ISO 4217 code
    │   ├── InvalidMsisdn           not a valid mobile number, or not of the stated country
    │   ├── InvalidReference        an id with characters or a length we do not accept
    │   └── CashRefundNeedsBankAccount  a cash order refunded without the payer's bank account
    ├── ReferenceConflict           a business id reused with different parameters
    ├── PayoutNotFound              no payout with that id
    ├── CollectionNotFound          no collection with that id
    ├── RefundNotFound              no refund with that id
    ├── CashOrderNotFound           no cash order with that id
    ├── InvalidTransaction          a refund's original is unknown, not paid, or another merchant's
    ├── CurrencyMismatch            a refund in another currency than its original
    ├── RefundWindowExpired         a refund asked for after the original's refund window
    ├── PayoutNotResolvable         an operator decision for a payout not in needs_review
    ├── CardNotFound                no card with that id
    ├── CardStateConflict           an operation the card's state forbids (terminated, frozen ...)
    ├── InvalidLimits               card limits that contradict each other
    ├── ReportInvalid               a settlement report that cannot be read (names the line)
    ├── FindingNotFound             no reconciliation finding with that id
    ├── FindingConflict             a finding already resolved with another note
    ├── LedgerError
    │   ├── InsufficientFunds       an account (merchant available, a refundable) is too low
    │   ├── RefundAmountExceeded    the refunds of a collection would exceed what was paid
    │   └── UnbalancedEntry         postings of an entry do not sum to zero per currency
    └── ProviderError
        ├── ProviderRejected        the provider refused the request for good (final)
        ├── ProviderConflict        the provider holds our reference with other parameters
        ├── ProviderAuthError       our credentials were refused (configuration, not transient)
        ├── ProviderNotConfigured   no such provider, or none configured on this worker
        └── ProviderUnavailable     transient: 5xx, timeout, connection reset (retryable)
"""

from __future__ import annotations

from typing import ClassVar


class PaymentsError(Exception):
    """Base of every error the engine raises on purpose."""

    type: ClassVar[str] = "PaymentsError"
    retryable: ClassVar[bool] = False


class ValidationFailed(PaymentsError, ValueError):
    """Input was rejected before anything started."""

    type = "ValidationFailed"


class InvalidAmount(ValidationFailed):
    """An amount is zero, negative, or has more decimals than its currency allows."""

    type = "InvalidAmount"


class UnknownCurrency(ValidationFailed):
    """A currency code is not ISO 4217."""

    type = "UnknownCurrency"


class InvalidMsisdn(ValidationFailed):
    """A mobile number is invalid or belongs to another country than stated."""

    type = "InvalidMsisdn"


class InvalidReference(ValidationFailed):
    """A business id does not match the accepted pattern."""

    type = "InvalidReference"


class CashRefundNeedsBankAccount(ValidationFailed):
    """A cash order's refund asked for without the payer's bank account: cash orders are
    refunded by bank transfer, never in cash."""

    type = "CashRefundNeedsBankAccount"


class ReferenceConflict(PaymentsError):
    """A business id was reused with different parameters."""

    type = "ReferenceConflict"


class PayoutNotFound(PaymentsError, LookupError):
    """No payout exists with the given id."""

    type = "PayoutNotFound"


class CollectionNotFound(PaymentsError, LookupError):
    """No collection exists with the given id."""

    type = "CollectionNotFound"


class RefundNotFound(PaymentsError, LookupError):
    """No refund exists with the given id."""

    type = "RefundNotFound"


class CashOrderNotFound(PaymentsError, LookupError):
    """No cash order with that id."""

    type = "CashOrderNotFound"


class InvalidTransaction(PaymentsError):
    """A refund's original collection is unknown, was not paid, or is another merchant's."""

    type = "InvalidTransaction"


class CurrencyMismatch(PaymentsError):
    """A refund is in another currency than the collection it refunds."""

    type = "CurrencyMismatch"


class RefundWindowExpired(PaymentsError):
    """A refund was asked for after its collection's refund window closed."""

    type = "RefundWindowExpired"


class PayoutNotResolvable(PaymentsError):
    """An operator tried to decide a payout that is not waiting for review."""

    type = "PayoutNotResolvable"


class CardNotFound(PaymentsError, LookupError):
    """No card exists with the given id."""

    type = "CardNotFound"


class CardStateConflict(PaymentsError):
    """The card's state forbids the operation (it is terminated, not active yet ...)."""

    type = "CardStateConflict"


class InvalidLimits(ValidationFailed):
    """Card limits contradict each other (a daily amount below the per-authorization one)."""

    type = "InvalidLimits"


class ReportInvalid(PaymentsError):
    """A settlement report is malformed, truncated, or holds an impossible line.

    The message names the line (``line 57: ...``) or the column; nothing of the run is
    stored but the error.
    """

    type = "ReportInvalid"


class FindingNotFound(PaymentsError, LookupError):
    """No reconciliation finding has that id."""

    type = "FindingNotFound"


class FindingConflict(PaymentsError):
    """A finding was already resolved, with another note."""

    type = "FindingConflict"


class LedgerError(PaymentsError):
    """Base of ledger failures."""

    type = "LedgerError"


class InsufficientFunds(LedgerError):
    """The account's balance cannot cover the amount.

    Args:
        message: what could not be covered (account and amount, never a balance).
        account: the account that would have gone below zero, when known: a refund
            tells "more than was paid" (the collection's refundable account) from "the
            merchant has too little money" by it.
    """

    type = "InsufficientFunds"

    def __init__(self, message: str, *, account: str | None = None) -> None:
        """Keep the account that fell short."""
        super().__init__(message)
        self.account = account


class RefundAmountExceeded(LedgerError):
    """The refunds of a collection, this one included, would exceed what the payer paid."""

    type = "RefundAmountExceeded"


class UnbalancedEntry(LedgerError):
    """A journal entry's postings do not sum to zero per currency."""

    type = "UnbalancedEntry"


class ProviderError(PaymentsError):
    """Base of failures talking to a payment provider."""

    type = "ProviderError"


class ProviderRejected(ProviderError):
    """The provider refused the request with a final status."""

    type = "ProviderRejected"


class ProviderConflict(ProviderError):
    """The provider already holds our reference with different parameters."""

    type = "ProviderConflict"


class ProviderAuthError(ProviderError):
    """The provider refused our credentials."""

    type = "ProviderAuthError"


class ProviderNotConfigured(ProviderError, ValidationFailed):
    """The request names a provider the engine does not know or a worker cannot reach."""

    type = "ProviderNotConfigured"


class ProviderUnavailable(ProviderError):
    """A transient provider failure; the call is retried after a status check."""

    type = "ProviderUnavailable"
    retryable = True
