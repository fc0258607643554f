"""Ledger types: accounts, balanced journal entries and the activities' inputs/outputs.

Signs: a posting adds its amount to its account's balance, and the postings of an entry
sum to zero per currency. Money entering the platform comes from an ``external:*``
account, which therefore runs negative; a merchant's available balance runs positive.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from payments_engine.domain.errors import InvalidAmount, UnbalancedEntry
from payments_engine.domain.ids import BusinessId
from payments_engine.domain.money import Currency, Money

EXTERNAL_BANK = "external:bank"


def merchant_available(merchant_id: str) -> str:
    """Account of a merchant's money free to pay out."""
    return f"merchant:{merchant_id}:available"


def merchant_reserved(merchant_id: str) -> str:
    """Account of a merchant's money held for payouts in flight."""
    return f"merchant:{merchant_id}:reserved"


def provider_clearing(provider: str) -> str:
    """Account of money handed to a provider and owed to recipients through it."""
    return f"provider:{provider}:clearing"


class Posting(BaseModel):
    """One line of a journal entry: ``amount`` minor units added to ``account``."""

    account: str = Field(min_length=1, max_length=200)
    amount: int


class JournalEntryRequest(BaseModel):
    """A journal entry to post once: a repeat with the same key posts nothing.

    ``floor_checks`` lists accounts whose balance may not go below zero by this entry.
    """

    idempotency_key: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=40)
    reference: str | None = Field(default=None, max_length=200)
    currency: Currency
    postings: list[Posting] = Field(min_length=2)
    floor_checks: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _balanced(self) -> JournalEntryRequest:
        if sum(p.amount for p in self.postings) != 0:
            raise UnbalancedEntry("the postings of an entry must sum to zero")
        if any(p.amount == 0 for p in self.postings):
            raise UnbalancedEntry("a posting of zero says nothing")
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


class FundMerchantInput(BaseModel):
    """Credit a merchant's available balance, as a top-up received by bank transfer.

    ``reference`` is the bank transfer's reference: funding twice with it credits once.
    """

    merchant_id: BusinessId
    amount: Money
    reference: BusinessId

    @model_validator(mode="after")
    def _positive(self) -> FundMerchantInput:
        if self.amount.amount <= 0:
            raise InvalidAmount("a funding amount must be greater than zero")
        return self
