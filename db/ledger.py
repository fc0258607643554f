"""The double-entry ledger: balanced journal entries posted exactly once, under conditions.

:meth:`Ledger.post` is the only way money moves. Every entry is written in one transaction
together with its postings and the cached balances of the accounts it touches, so
``ledger_accounts.balance`` always equals the sum of the account's postings. Entries are
idempotent by key: posting the same request again, even concurrently, returns the entry
already stored instead of posting twice.

What an entry may do is stated by the entry itself (see ``domain/recipes.py``, which
builds them) and enforced here, generically, inside the posting transaction:

- ``requires``: those entries must be posted (``LedgerError`` otherwise), and must have
  moved the stated amount on the stated account (``ReferenceConflict`` otherwise);
- ``excludes``: those keys must not be posted (``ReferenceConflict``);
- no account outside ``may_go_negative`` may be taken below zero (``InsufficientFunds``).

Concurrency. SQLite: the entry row is the transaction's first write, which takes the
database write lock, so every check reads the latest committed state and nothing can
change it before the commit. PostgreSQL (READ COMMITTED): the entry's key and its excluded
keys are locked with transaction-scoped advisory locks, so two entries that exclude each
other are posted one after the other and the second sees the first; the rows of the
accounts the entry touches are locked ``FOR UPDATE`` in ascending id order (no deadlock
between entries sharing accounts) before their balances are read and checked.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payments_engine.db.models import Account, JournalEntry, utcnow
from payments_engine.db.models import Posting as PostingRow
from payments_engine.domain import recipes
from payments_engine.domain.errors import InsufficientFunds, LedgerError, ReferenceConflict
from payments_engine.domain.ledger import (
    AccountBalance,
    FundMerchantInput,
    JournalEntryRequest,
    PostedEntry,
    Posting,
)


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
        # (code, currency) -> id of accounts known to be committed: accounts are never
        # deleted or renumbered, so a posting need not look them up again.
        self._account_ids: dict[tuple[str, str], int] = {}

    # -- posting -----------------------------------------------------------------------

    async def post(self, entry: JournalEntryRequest) -> PostedEntry:
        """Post an entry once, if its conditions hold; a repeat of its key returns it.

        A repeat of a posted key is answered before any condition is checked: a retried
        step gets its entry back even if, say, the funds it took are gone since.

        Args:
            entry: the entry, usually built by a recipe of ``domain/recipes.py``.

        Returns:
            The stored entry, ``created=True`` if this call posted it, else ``False``.

        Raises:
            InsufficientFunds: an account not in ``may_go_negative`` would go below zero.
            LedgerError: an entry in ``requires`` is not posted (exactly this class).
            ReferenceConflict: the key was posted before with a different entry, an entry
                in ``excludes`` is posted, or a required entry moved another amount,
                currency or account than required.
        """
        # No read first: a new key (the usual case) is written at once, and the unique
        # key catches a repeat before any condition is checked.
        try:
            return await self._insert(entry)
        except _DuplicateKey:
            existing = await self.entry(entry.idempotency_key)
            if existing is None:  # pragma: no cover - a duplicate means the winner committed
                raise LedgerError(
                    f"ledger key {entry.idempotency_key!r} conflicted but is not stored"
                ) from None
            return _replay(existing, entry)

    async def fund_merchant(self, inp: FundMerchantInput) -> PostedEntry:
        """Post :func:`recipes.fund_merchant` (kept for the starter and scripts)."""
        return await self.post(recipes.fund_merchant(inp))

    async def _insert(self, entry: JournalEntryRequest) -> PostedEntry:
        created_at = utcnow()
        async with self._sessions() as session, session.begin():
            # The entry goes first: its unique key is what makes concurrent posters of the
            # same key wait for, then fail against, the first one. On SQLite this first
            # write also takes the database write lock, so everything after it is serial
            # and reads the latest committed state.
            try:
                entry_id = (
                    await session.execute(
                        _insert_for(session, JournalEntry)
                        .values(
                            idempotency_key=entry.idempotency_key,
                            kind=entry.kind,
                            reference=entry.reference,
                            currency=entry.currency,
                            created_at=created_at,
                        )
                        .returning(JournalEntry.id)
                    )
                ).scalar_one()
            except IntegrityError as exc:
                raise _DuplicateKey from exc

            if _dialect(session) == "postgresql":
                await _lock_keys(session, [entry.idempotency_key, *entry.excludes])
            await _check_requires(session, entry)
            await _check_excludes(session, entry)

            deltas: dict[str, int] = {}
            for posting in entry.postings:
                deltas[posting.account] = deltas.get(posting.account, 0) + posting.amount
            account_ids = {
                code: self._account_ids[code, entry.currency]
                for code in deltas
                if (code, entry.currency) in self._account_ids
            }
            unknown = sorted(code for code in deltas if code not in account_ids)
            if unknown:
                account_ids.update(await _get_or_create_accounts(session, unknown, entry.currency))

            await session.execute(
                _insert_for(session, PostingRow),
                [
                    {
                        "entry_id": entry_id,
                        "account_id": account_ids[p.account],
                        "amount": p.amount,
                        "currency": entry.currency,
                    }
                    for p in entry.postings
                ],
            )
            # Last, so the hot account rows are held for as short as possible; in id order,
            # so concurrent posters lock them in the same order (no deadlock). The floor is
            # part of the UPDATE: it is checked against the row as locked (PostgreSQL
            # re-reads a row it waited for), so no concurrent posting can overdraw it.
            floored = {
                code
                for code, delta in deltas.items()
                if delta < 0 and code not in entry.may_go_negative
            }
            for code in sorted(deltas, key=account_ids.__getitem__):
                delta = deltas[code]
                if delta == 0:
                    continue
                statement = update(Account).where(Account.id == account_ids[code])
                if code in floored:
                    statement = statement.where(Account.balance + delta >= 0)
                result = await session.execute(
                    statement.values(balance=Account.balance + delta)
                    # No Account objects live in this session: nothing to synchronise.
                    .execution_options(synchronize_session=False)
                )
                if code in floored and result.rowcount != 1:  # type: ignore[attr-defined]
                    # The account and the amount only: no balance, no personal data.
                    raise InsufficientFunds(
                        f"{code} cannot cover {-delta} {entry.currency} "
                        f"(entry {entry.idempotency_key!r})"
                    )

        # Committed: the accounts it created exist for good.
        for code, account_id in account_ids.items():
            self._account_ids[code, entry.currency] = account_id
        return PostedEntry(
            entry_id=entry_id,
            idempotency_key=entry.idempotency_key,
            kind=entry.kind,
            reference=entry.reference,
            currency=entry.currency,
            postings=list(entry.postings),
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


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _lock_id(key: str) -> int:
    """A stable signed 64-bit advisory lock id of an idempotency key."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


async def _lock_keys(session: AsyncSession, keys: Iterable[str]) -> None:
    """Take PostgreSQL transaction advisory locks on ``keys``, in one global order.

    An entry locks its own key and the keys it excludes. Two entries excluding each other
    thus share both locks: the second waits for the first to commit, and its next
    statement (READ COMMITTED) sees the first's entry. Ascending lock ids keep posters of
    overlapping key sets from deadlocking.
    """
    for lock_id in sorted({_lock_id(k) for k in keys}):
        await session.execute(select(func.pg_advisory_xact_lock(cast(lock_id, BigInteger))))


async def _check_requires(session: AsyncSession, entry: JournalEntryRequest) -> None:
    """Raise unless every required entry is posted, with the amount it must have moved."""
    for requirement in entry.requires:
        found = (
            await session.execute(
                select(JournalEntry.id, JournalEntry.currency).where(
                    JournalEntry.idempotency_key == requirement.key
                )
            )
        ).one_or_none()
        if found is None:
            raise LedgerError(
                f"entry {entry.idempotency_key!r} requires {requirement.key!r}, which is not posted"
            )
        if requirement.account is None:
            continue
        required_id, currency = found
        moved = (
            await session.execute(
                select(func.sum(PostingRow.amount))
                .join(Account, Account.id == PostingRow.account_id)
                .where(PostingRow.entry_id == required_id, Account.code == requirement.account)
            )
        ).scalar_one_or_none()
        if currency != requirement.currency or moved is None or int(moved) != requirement.amount:
            raise ReferenceConflict(
                f"entry {entry.idempotency_key!r} requires {requirement.key!r} for "
                f"{requirement.amount} {requirement.currency} on {requirement.account}, "
                "but it was posted for another amount, currency or account"
            )


async def _check_excludes(session: AsyncSession, entry: JournalEntryRequest) -> None:
    """Raise ReferenceConflict if an excluded key is posted."""
    if not entry.excludes:
        return
    clash = (
        await session.execute(
            select(JournalEntry.idempotency_key)
            .where(JournalEntry.idempotency_key.in_(entry.excludes))
            .order_by(JournalEntry.idempotency_key)
            .limit(1)
        )
    ).scalar_one_or_none()
    if clash is not None:
        raise ReferenceConflict(
            f"entry {entry.idempotency_key!r} cannot be posted: {clash!r} was already posted"
        )


def _insert_for(
    session: AsyncSession, model: type[Account] | type[JournalEntry] | type[PostingRow]
) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT construct, which knows ON CONFLICT on SQLite and PostgreSQL."""
    dialect = _dialect(session)
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
