"""Ledger types: accounts, balanced journal entries and the activities' inputs/outputs.

Signs: a posting adds its amount to its account's balance, and the postings of an entry
sum to zero per currency. Money entering the platform comes from an ``external:*``
account, which therefore runs negative; a merchant's available and reserved balances run
positive. A provider's clearing balance is two-sided: payouts and refunds add what was
handed to the provider to pay onwards, collections take what it collected for us, so it
is positive when the provider owes recipients and negative when it owes us. Only
``external:*`` accounts and, for a collection, its provider's clearing may go below zero:
an entry names them in ``may_go_negative``.

A card's available account is its balance: fundings add, holds and captures take off,
releases and refunds give back. It stays at or above zero except for what the network
clears without (or above) a hold, which the issuer must pay anyway: a capture recipe
names the card's account in ``may_go_negative`` then. The card settlement account of an
issuer grows with captures (owed to the network) and shrinks with refunds.

A collection's refundable account is a counter, not money: its settle entry puts the
amount paid on it (against ``external:refund-capacity``), each refund takes its amount
off, and it may not go below zero, so the ledger itself refuses refunds beyond what was
paid, whatever their number or timing.

The entries themselves are built by the recipes of :mod:`payments_engine.domain.recipes`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from payments_engine.domain.errors import InvalidAmount, UnbalancedEntry
from payments_engine.domain.ids import BusinessId
from payments_engine.domain.money import Currency, Money
from payments_engine.domain.reconciliation import ProviderTransaction

EXTERNAL_BANK = "external:bank"
# The counterpart of every collection's refundable counter (see the module docstring).
EXTERNAL_REFUND_CAPACITY = "external:refund-capacity"


def merchant_available(merchant_id: str) -> str:
    """Account of a merchant's money free to pay out."""
    return f"merchant:{merchant_id}:available"


def merchant_reserved(merchant_id: str) -> str:
    """Account of a merchant's money held for payouts in flight."""
    return f"merchant:{merchant_id}:reserved"


def provider_clearing(provider: str) -> str:
    """Account of money handed to a provider and owed to recipients through it."""
    return f"provider:{provider}:clearing"


def provider_fees(provider: str) -> str:
    """Account of the fees a provider charged us, withheld from what it settles."""
    return f"provider:{provider}:fees"


def merchant_refunds_payable(merchant_id: str) -> str:
    """Account of a merchant's money held for refunds the provider has not processed yet."""
    return f"merchant:{merchant_id}:refunds_payable"


def collection_refundable(collection_id: str) -> str:
    """Counter of how much of a collection may still be refunded (never below zero)."""
    return f"collection:{collection_id}:refundable"


def merchant_pending_settlement(merchant_id: str) -> str:
    """Account of a merchant's money a network confirmed but has not settled yet."""
    return f"merchant:{merchant_id}:pending_settlement"


def cash_order_refundable(order_id: str) -> str:
    """Counter of how much of a paid cash order may still be refunded (never below zero)."""
    return f"cash_order:{order_id}:refundable"


class RefundOrigin(StrEnum):
    """What a refund gives money back for: a wallet collection or a cash order."""

    COLLECTION = "collection"
    CASH_ORDER = "cash_order"


def refundable_account(origin: RefundOrigin, original_id: str) -> str:
    """The refundable counter of a refund's original."""
    if origin is RefundOrigin.CASH_ORDER:
        return cash_order_refundable(original_id)
    return collection_refundable(original_id)


def card_available(card_id: str) -> str:
    """Account of what a card may still spend (its balance)."""
    return f"card:{card_id}:available"


def card_holds(card_id: str) -> str:
    """Account of the money a card's open authorizations hold."""
    return f"card:{card_id}:holds"


def card_settlement(provider: str) -> str:
    """Account of what card captures owe the network through an issuer (refunds take off)."""
    return f"provider:{provider}:card_settlement"


class Posting(BaseModel):
    """One line of a journal entry: ``amount`` minor units added to ``account``."""

    account: str = Field(min_length=1, max_length=200)
    amount: int


class Requirement(BaseModel):
    """An entry that must have been posted before the one requiring it.

    With ``account``, ``amount`` and ``currency`` (all three or none), the required entry
    must also be in ``currency`` and its postings on ``account`` must add up to
    ``amount``: a settle checks this way that its reservation was for the same amount,
    currency and merchant.
    """

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=1, max_length=200)
    account: str | None = Field(default=None, min_length=1, max_length=200)
    amount: int | None = None
    currency: Currency | None = None

    @model_validator(mode="after")
    def _all_or_none(self) -> Requirement:
        given = (self.account is not None, self.amount is not None, self.currency is not None)
        if any(given) and not all(given):
            raise ValueError("a requirement states account, amount and currency, or none")
        return self


class JournalEntryRequest(BaseModel):
    """A journal entry to post once, with the conditions it is posted under.

    A repeat of ``idempotency_key`` with the same kind, reference, currency and postings
    posts nothing and returns the stored entry. The conditions, checked by
    ``Ledger.post`` inside the posting transaction:

    - ``requires``: entries that must already be posted (a plain key is accepted for a
      :class:`Requirement` without amount);
    - ``excludes``: keys that must not be posted (settle and release of one payout);
    - ``may_go_negative``: accounts this entry may leave below zero (``external:*``).
      Every other account the entry takes money from must not end below zero.

    ``settlement`` is the provider's transaction this entry books, if any: written in
    the same transaction (replacing an earlier status of the same transaction), for
    reconciliation. It is not part of what a repeat of the key must match.
    """

    idempotency_key: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=40)
    reference: str | None = Field(default=None, max_length=200)
    currency: Currency
    postings: list[Posting] = Field(min_length=2)
    requires: list[Requirement] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)
    may_go_negative: list[str] = Field(default_factory=list)
    settlement: ProviderTransaction | None = None

    @field_validator("requires", mode="before")
    @classmethod
    def _keys_as_requirements(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return [Requirement(key=v) if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _balanced(self) -> JournalEntryRequest:
        if sum(p.amount for p in self.postings) != 0:
            raise UnbalancedEntry("the postings of an entry must sum to zero")
        if any(p.amount == 0 for p in self.postings):
            raise UnbalancedEntry("a posting of zero says nothing")
        return self

    @model_validator(mode="after")
    def _conditions_consistent(self) -> JournalEntryRequest:
        required = {r.key for r in self.requires}
        if self.idempotency_key in required or self.idempotency_key in self.excludes:
            raise ValueError("an entry cannot require or exclude its own key")
        if required & set(self.excludes):
            raise ValueError("an entry cannot both require and exclude a key")
        return self


class PostedEntry(BaseModel):
    """A journal entry as stored; ``created`` is False when the key had been posted before."""

    entry_id: int
    idempotency_key: str
    kind: str
    reference: str | None
    currency: str
    postings: list[Posting]
    created: bool
    created_at: datetime


class AccountBalance(BaseModel):
    """The balance of one account in one currency."""

    account: str
    currency: str
    balance: int


class PayoutLedgerInput(BaseModel):
    """Input of the payout ledger activities (reserve, settle, release)."""

    payout_id: str
    merchant_id: str
    provider: str
    amount: Money
    provider_transaction_id: str | None = None
    """The provider's id of the transaction, when it said one (for reconciliation)."""
    occurred_at: datetime | None = None
    """When the provider made it final (its time when it said one); the ledger activity
    sets it to the posting time when None."""


class FundMerchantInput(BaseModel):
    """Credit a merchant's available balance, as a top-up received by bank transfer.

    ``reference`` is the bank transfer's reference: funding twice with it credits once.
    """

    merchant_id: BusinessId
    amount: Money
    reference: BusinessId

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        # A field check, so that the mistake is said of the amount (``amount: ...``).
        if value.amount <= 0:
            raise InvalidAmount("a funding amount must be greater than zero")
        return value


class CollectionLedgerInput(BaseModel):
    """Input of the collection's ledger step: what the payer paid and the provider kept.

    ``fee`` is the provider's fee in the collection's currency, from its answer; None
    when it did not state one, and the ledger activity then applies the provider's
    configured rate.
    """

    collection_id: str
    merchant_id: str
    provider: str
    amount: Money
    fee: Money | None = None
    provider_transaction_id: str | None = None
    """The provider's id of the transaction, when it said one (for reconciliation)."""
    occurred_at: datetime | None = None
    """When the provider made it final (its time when it said one); the ledger activity
    sets it to the posting time when None."""


def fee_at_rate(amount: Money, basis_points: int) -> Money:
    """``amount`` times ``basis_points`` / 10,000, rounded half up to the minor unit."""
    return Money(amount=(amount.amount * basis_points + 5_000) // 10_000, currency=amount.currency)


class RefundLedgerInput(BaseModel):
    """Input of the refund ledger steps (reserve, settle, release, reverse).

    ``refund_id`` is the merchant's ``external_refund_id``, the refund's idempotency key.
    """

    refund_id: str
    collection_id: str
    """The original's id: a collection's, or a cash order's (``origin``)."""
    merchant_id: str
    provider: str
    amount: Money
    origin: RefundOrigin = RefundOrigin.COLLECTION
    provider_transaction_id: str | None = None
    """The provider's id of the transaction, when it said one (for reconciliation)."""
    occurred_at: datetime | None = None
    """When the provider made it final (its time when it said one); the ledger activity
    sets it to the posting time when None."""


class CashOrderLedgerInput(BaseModel):
    """Input of a cash order's ledger steps: what the payer paid and the network keeps.

    ``fee`` is the network's fee from its confirmation, in the order's currency; None
    when it stated none, and the ledger activity applies the network's configured rate.
    """

    order_id: str
    merchant_id: str
    provider: str
    amount: Money
    fee: Money | None = None
    provider_transaction_id: str | None = None
    """The provider's id of the transaction, when it said one (for reconciliation)."""
    occurred_at: datetime | None = None
    """When the provider made it final (its time when it said one); the ledger activity
    sets it to the posting time when None."""
