"""The double-entry ledger: balanced journal entries posted exactly once by idempotency key.

Every entry is written in one transaction together with its postings and the cached
balances of the accounts it touches, so ``ledger_accounts.balance`` always equals the sum
of the account's postings. Entries are idempotent by key: posting the same request again,
even concurrently, returns the entry already stored instead of posting twice.

The payout helpers derive their keys from the payout id (``payout:{id}:reserve`` ...), so
an activity retried after a crash or a timeout finds its own earlier entry.

Works alike on SQLite (aiosqlite, where writers are serialised by the database lock) and
PostgreSQL (psycopg, READ COMMITTED, where unique indexes and row locks serialise the
writers that matter).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payments_engine.db.models import Account, JournalEntry, utcnow
from payments_engine.db.models import Posting as PostingRow
from payments_engine.domain.errors import (
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    ReferenceConflict,
)
from payments_engine.domain.ledger import (
    EXTERNAL_BANK,
    AccountBalance,
    FundMerchantInput,
    JournalEntryRequest,
    PayoutLedgerInput,
    PostedEntry,
    Posting,
    merchant_available,
    merchant_reserved,
    provider_clearing,
)
from payments_engine.domain.money import Money

# Runs inside the posting transaction, after the entry row is inserted: the entry's
# unique key is then held, and on SQLite so is the database write lock, so what the
# guard reads cannot change under it until the transaction ends.
Guard = Callable[[AsyncSession], Awaitable[None]]

KIND_PAYOUT_RESERVE = "payout_reserve"
KIND_PAYOUT_SETTLE = "payout_settle"
KIND_PAYOUT_RELEASE = "payout_release"
KIND_FUNDING = "funding"


def payout_key(payout_id: str, step: str) -> str:
    """Idempotency key of a payout's ledger step (``reserve``, ``settle``, ``release``)."""
    return f"payout:{payout_id}:{step}"


def funding_key(reference: str) -> str:
    """Idempotency key of a merchant funding, from the bank transfer's reference."""
    return f"funding:{reference}"


class _DuplicateKey(Exception):
    """The entry's idempotency key was taken by a concurrent poster."""


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything the schema stores is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _to_posted(row: JournalEntry, *, created: bool) -> PostedEntry:
    return PostedEntry(
        entry_id=row.id,
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        reference=row.reference,
        currency=row.currency,
        postings=[Posting(account=p.account.code, amount=p.amount) for p in row.postings],
        created=created,
        created_at=_aware(row.created_at),
    )


def _same_entry(existing: PostedEntry, request: JournalEntryRequest) -> bool:
    # Postings compare as a multiset: their order carries no meaning.
    def lines(postings: Sequence[Posting]) -> Counter[tuple[str, int]]:
        return Counter((p.account, p.amount) for p in postings)

    return (
        existing.kind == request.kind
        and existing.currency == request.currency
        and existing.reference == request.reference
        and lines(existing.postings) == lines(request.postings)
    )


def _replay(existing: PostedEntry, request: JournalEntryRequest) -> PostedEntry:
    if not _same_entry(existing, request):
        raise ReferenceConflict(
            f"ledger key {request.idempotency_key!r} was already posted with other "
            "kind, currency, reference or postings"
        )
    return existing.model_copy(update={"created": False})


class Ledger:
    """Posts balanced journal entries exactly once and answers balance questions.

    Args:
        sessions: factory of sessions on the ledger database (see ``db.session``).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # -- posting -----------------------------------------------------------------------

    async def post(self, request: JournalEntryRequest) -> PostedEntry:
        """Post a balanced entry once; a repeat of its key returns the stored entry.

        Args:
            request: the entry; its postings already sum to zero (the model checks).

        Returns:
            The stored entry, ``created=True`` if this call posted it, else ``False``.

        Raises:
            InsufficientFunds: an account in ``floor_checks`` would go below zero.
            ReferenceConflict: the key was posted before with a different entry.
        """
        return await self._post(request)

    async def _post(self, request: JournalEntryRequest, guard: Guard | None = None) -> PostedEntry:
        # Retries of an activity usually find their entry here, without a write.
        existing = await self.entry(request.idempotency_key)
        if existing is not None:
            return _replay(existing, request)
        try:
            return await self._insert(request, guard)
        except _DuplicateKey:
            existing = await self.entry(request.idempotency_key)
            if existing is None:  # pragma: no cover - a duplicate means the winner committed
                raise LedgerError(
                    f"ledger key {request.idempotency_key!r} conflicted but is not stored"
                ) from None
            return _replay(existing, request)

    async def _insert(self, request: JournalEntryRequest, guard: Guard | None) -> PostedEntry:
        created_at = utcnow()
        async with self._sessions() as session, session.begin():
            # The entry goes first: its unique key is what makes concurrent posters of the
            # same key wait for, then fail against, the first one. On SQLite this first
            # write also takes the database write lock, so everything after it is serial.
            try:
                entry_id = (
                    await session.execute(
                        _insert_for(session, JournalEntry)
                        .values(
                            idempotency_key=request.idempotency_key,
                            kind=request.kind,
                            reference=request.reference,
                            currency=request.currency,
                            created_at=created_at,
                        )
                        .returning(JournalEntry.id)
                    )
                ).scalar_one()
            except IntegrityError as exc:
                raise _DuplicateKey from exc

            if guard is not None:
                await guard(session)

            deltas: dict[str, int] = {}
            for posting in request.postings:
                deltas[posting.account] = deltas.get(posting.account, 0) + posting.amount
            account_ids = await _get_or_create_accounts(session, sorted(deltas), request.currency)

            await session.execute(
                _insert_for(session, PostingRow),
                [
                    {
                        "entry_id": entry_id,
                        "account_id": account_ids[p.account],
                        "amount": p.amount,
                        "currency": request.currency,
                    }
                    for p in request.postings
                ],
            )

            floor_checked = set(request.floor_checks)
            # A fixed order of row locks keeps concurrent entries on PostgreSQL from
            # deadlocking on each other's accounts.
            for code in sorted(deltas):
                delta = deltas[code]
                if delta == 0:
                    continue
                stmt = (
                    update(Account)
                    .where(Account.id == account_ids[code])
                    .values(balance=Account.balance + delta)
                    # No Account objects live in this session: nothing to synchronise.
                    .execution_options(synchronize_session=False)
                )
                if code in floor_checked and delta < 0:
                    # Check and write in one statement: no other writer can slip between
                    # reading the balance and debiting it.
                    stmt = stmt.where(Account.balance + delta >= 0)
                result = await session.execute(stmt)
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    raise InsufficientFunds(
                        f"{code} cannot cover {-delta} {request.currency} "
                        f"(entry {request.idempotency_key!r})"
                    )

        return PostedEntry(
            entry_id=entry_id,
            idempotency_key=request.idempotency_key,
            kind=request.kind,
            reference=request.reference,
            currency=request.currency,
            postings=list(request.postings),
            created=True,
            created_at=created_at,
        )

    # -- reading -----------------------------------------------------------------------

    async def entry(self, idempotency_key: str) -> PostedEntry | None:
        """The entry posted under ``idempotency_key``, or None (``created`` is False)."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(JournalEntry).where(JournalEntry.idempotency_key == idempotency_key)
                )
            ).scalar_one_or_none()
            return None if row is None else _to_posted(row, created=False)

    async def entries(self, reference: str | None = None) -> list[PostedEntry]:
        """Entries in posting order, all or those of one ``reference``."""
        stmt = select(JournalEntry).order_by(JournalEntry.id)
        if reference is not None:
            stmt = stmt.where(JournalEntry.reference == reference)
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
            return [_to_posted(row, created=False) for row in rows]

    async def balance(self, account_code: str, currency: str) -> int:
        """Balance of an account in minor units; 0 for an account never posted to."""
        async with self._sessions() as session:
            value = (
                await session.execute(
                    select(Account.balance).where(
                        Account.code == account_code, Account.currency == currency
                    )
                )
            ).scalar_one_or_none()
            return int(value or 0)

    async def balances(self, prefix: str | None = None) -> list[AccountBalance]:
        """Balances of all accounts, or of those whose code starts with ``prefix``."""
        stmt = select(Account.code, Account.currency, Account.balance).order_by(
            Account.code, Account.currency
        )
        if prefix:
            stmt = stmt.where(Account.code.startswith(prefix, autoescape=True))
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
            return [
                AccountBalance(account=code, currency=currency, balance=int(balance))
                for code, currency, balance in rows
            ]

    async def trial_balance(self) -> dict[str, int]:
        """Sum of all postings per currency, from the postings themselves; always 0."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(PostingRow.currency, func.sum(PostingRow.amount)).group_by(
                        PostingRow.currency
                    )
                )
            ).all()
            return {currency: int(total or 0) for currency, total in rows}

    async def check_consistency(self) -> list[str]:
        """Audit the ledger; each string describes one problem, an empty list is healthy.

        Checks that postings sum to zero per currency and per entry, that every entry has
        at least two postings in its own currency, and that each account's cached balance
        equals the sum of its postings.
        """
        problems: list[str] = []
        for currency, total in sorted((await self.trial_balance()).items()):
            if total != 0:
                problems.append(f"postings in {currency} sum to {total}, not 0")

        async with self._sessions() as session:
            posted = (
                select(
                    PostingRow.account_id.label("account_id"),
                    func.sum(PostingRow.amount).label("total"),
                )
                .group_by(PostingRow.account_id)
                .subquery()
            )
            accounts = (
                await session.execute(
                    select(Account.code, Account.currency, Account.balance, posted.c.total)
                    .outerjoin(posted, posted.c.account_id == Account.id)
                    .order_by(Account.code, Account.currency)
                )
            ).all()
            for code, currency, cached, total in accounts:
                if int(cached) != int(total or 0):
                    problems.append(
                        f"account {code} {currency}: cached balance {cached} "
                        f"but postings sum to {int(total or 0)}"
                    )

            entries = (
                await session.execute(
                    select(
                        JournalEntry.idempotency_key,
                        func.coalesce(func.sum(PostingRow.amount), 0),
                        func.count(PostingRow.id),
                    )
                    .outerjoin(PostingRow, PostingRow.entry_id == JournalEntry.id)
                    .group_by(JournalEntry.id, JournalEntry.idempotency_key)
                    .having(
                        (func.coalesce(func.sum(PostingRow.amount), 0) != 0)
                        | (func.count(PostingRow.id) < 2)
                    )
                    .order_by(JournalEntry.id)
                )
            ).all()
            for key, total, count in entries:
                problems.append(f"entry {key!r}: {count} posting(s) summing to {int(total)}")

            mixed = (
                await session.execute(
                    select(JournalEntry.idempotency_key, Account.code)
                    .join(PostingRow, PostingRow.entry_id == JournalEntry.id)
                    .join(Account, Account.id == PostingRow.account_id)
                    .where(
                        (PostingRow.currency != JournalEntry.currency)
                        | (Account.currency != PostingRow.currency)
                    )
                    .order_by(JournalEntry.id, PostingRow.id)
                )
            ).all()
            for key, code in mixed:
                problems.append(f"entry {key!r}: posting to {code} in another currency")
        return problems

    # -- payouts and funding -----------------------------------------------------------

    async def reserve_payout(self, inp: PayoutLedgerInput) -> PostedEntry:
        """Hold a payout's amount: merchant available -> merchant reserved.

        Raises:
            InsufficientFunds: the merchant's available balance cannot cover the amount.
            InvalidAmount: the amount is not positive.
            ReferenceConflict: the payout was reserved before with other parameters.
        """
        available = merchant_available(inp.merchant_id)
        request = _payout_move(
            inp, "reserve", KIND_PAYOUT_RESERVE, available, merchant_reserved(inp.merchant_id)
        )
        return await self.post(request.model_copy(update={"floor_checks": [available]}))

    async def settle_payout(self, inp: PayoutLedgerInput) -> PostedEntry:
        """Hand a reserved payout's amount to the provider: reserved -> provider clearing.

        Raises:
            LedgerError: the payout has no reservation.
            ReferenceConflict: the payout was released, or reserved for another amount,
                merchant or currency.
        """
        request = _payout_move(
            inp,
            "settle",
            KIND_PAYOUT_SETTLE,
            merchant_reserved(inp.merchant_id),
            provider_clearing(inp.provider),
        )
        return await self._post(request, self._resolution_guard(inp, excluded="release"))

    async def release_payout(self, inp: PayoutLedgerInput) -> PostedEntry:
        """Give a failed payout's reservation back: reserved -> merchant available.

        Raises:
            LedgerError: the payout has no reservation.
            ReferenceConflict: the payout was settled, or reserved for another amount,
                merchant or currency.
        """
        request = _payout_move(
            inp,
            "release",
            KIND_PAYOUT_RELEASE,
            merchant_reserved(inp.merchant_id),
            merchant_available(inp.merchant_id),
        )
        return await self._post(request, self._resolution_guard(inp, excluded="settle"))

    async def fund_merchant(self, inp: FundMerchantInput) -> PostedEntry:
        """Credit a merchant's available balance from a bank transfer, once per reference."""
        return await self.post(
            JournalEntryRequest(
                idempotency_key=funding_key(inp.reference),
                kind=KIND_FUNDING,
                reference=inp.reference,
                currency=inp.amount.currency,
                postings=[
                    Posting(account=EXTERNAL_BANK, amount=-inp.amount.amount),
                    Posting(account=merchant_available(inp.merchant_id), amount=inp.amount.amount),
                ],
            )
        )

    def _resolution_guard(self, inp: PayoutLedgerInput, *, excluded: str) -> Guard:
        """A guard making settle and release of one payout mutually exclusive."""
        reserve_key = payout_key(inp.payout_id, "reserve")
        excluded_key = payout_key(inp.payout_id, excluded)
        reserved_account = merchant_reserved(inp.merchant_id)

        async def guard(session: AsyncSession) -> None:
            # Locking the reservation serialises settle and release of the same payout on
            # PostgreSQL: the second waits here, then (READ COMMITTED) sees the first's
            # entry below. SQLite ignores FOR UPDATE; its write lock already serialises.
            reserve_id = (
                await session.execute(
                    select(JournalEntry.id)
                    .where(JournalEntry.idempotency_key == reserve_key)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if reserve_id is None:
                raise LedgerError(f"payout {inp.payout_id!r} has no reservation")
            reserved = (
                await session.execute(
                    select(PostingRow.amount, PostingRow.currency)
                    .join(Account, Account.id == PostingRow.account_id)
                    .where(PostingRow.entry_id == reserve_id, Account.code == reserved_account)
                )
            ).one_or_none()
            if reserved is None or tuple(reserved) != (inp.amount.amount, inp.amount.currency):
                raise ReferenceConflict(
                    f"payout {inp.payout_id!r} was reserved for another amount, "
                    "currency or merchant"
                )
            clash = (
                await session.execute(
                    select(JournalEntry.id).where(JournalEntry.idempotency_key == excluded_key)
                )
            ).scalar_one_or_none()
            if clash is not None:
                raise ReferenceConflict(f"payout {inp.payout_id!r} was already {excluded}d")

        return guard


def _payout_move(
    inp: PayoutLedgerInput, step: str, kind: str, source: str, destination: str
) -> JournalEntryRequest:
    """The entry of one payout step: its amount from ``source`` to ``destination``."""
    _require_positive(inp.amount)
    return JournalEntryRequest(
        idempotency_key=payout_key(inp.payout_id, step),
        kind=kind,
        reference=inp.payout_id,
        currency=inp.amount.currency,
        postings=[
            Posting(account=source, amount=-inp.amount.amount),
            Posting(account=destination, amount=inp.amount.amount),
        ],
    )


def _require_positive(amount: Money) -> None:
    if amount.amount <= 0:
        raise InvalidAmount(f"a payout amount must be greater than zero, got {amount.amount}")


def _insert_for(
    session: AsyncSession, model: type[Account] | type[JournalEntry] | type[PostingRow]
) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT construct, which knows ON CONFLICT on SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise LedgerError(f"unsupported database dialect {dialect!r}")


async def _get_or_create_accounts(
    session: AsyncSession, codes: Sequence[str], currency: str
) -> dict[str, int]:
    """Ids of the accounts ``codes`` in ``currency``, creating the missing ones.

    ``ON CONFLICT DO NOTHING`` lets concurrent creators of the same account all succeed:
    the loser waits for the winner's row (PostgreSQL) or the write lock (SQLite), then
    inserts nothing and reads the winner's row.
    """
    now = utcnow()
    await session.execute(
        _insert_for(session, Account)
        .values([{"code": c, "currency": currency, "balance": 0, "created_at": now} for c in codes])
        .on_conflict_do_nothing(index_elements=[Account.code, Account.currency])
    )
    rows = (
        await session.execute(
            select(Account.code, Account.id).where(
                Account.code.in_(codes), Account.currency == currency
            )
        )
    ).all()
    ids = {code: account_id for code, account_id in rows}
    missing = [c for c in codes if c not in ids]
    if missing:  # pragma: no cover - only if a row vanished mid-transaction
        raise LedgerError(f"accounts {missing} could not be created")
    return ids
