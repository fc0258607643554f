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
change it before the commit; one UPDATE then moves every balance. PostgreSQL (READ
COMMITTED): the entry's key and its excluded keys are locked with transaction-scoped
advisory locks, so two entries that exclude each other are posted one after the other
and the second sees the first; the balances are moved last, one row at a time in
ascending account id order (no deadlock between entries sharing accounts), each UPDATE
checking the floor against the row as it locked it.

Cost. A posting is a handful of Core statements on one connection (entry, locks, one
query for every condition, postings, balances); account ids are cached once committed.
They are written once, synchronously (``_write_entry``), the whole transaction in one
call on a thread of the engine's writer (``db.session.write``), so neither SQLite's
write lock nor PostgreSQL's row locks on the hot balances are held across event-loop
round trips.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Connection, case, cast, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments_engine.db.models import Account, JournalEntry, ProviderTransactionRow, utcnow
from payments_engine.db.models import Posting as PostingRow
from payments_engine.db.session import write
from payments_engine.domain import recipes
from payments_engine.domain.errors import InsufficientFunds, LedgerError, ReferenceConflict
from payments_engine.domain.ledger import (
    AccountBalance,
    FundMerchantInput,
    JournalEntryRequest,
    PostedEntry,
    Posting,
)
from payments_engine.domain.reconciliation import ProviderTransaction


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

    @property
    def engine(self) -> AsyncEngine:
        """The engine the ledger's sessions are bound to (shared by the other stores)."""
        bind = self._sessions.kw.get("bind")
        if not isinstance(bind, AsyncEngine):  # pragma: no cover - session_factory binds one
            raise LedgerError("the ledger's sessions are not bound to an engine")
        return bind

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
        known = {
            code: self._account_ids[code, entry.currency]
            for code in {p.account for p in entry.postings}
            if (code, entry.currency) in self._account_ids
        }
        # On SQLite, one hop to the writer's thread for the whole transaction.
        written = await write(self.engine, _write_entry, entry, known)
        # Committed: the accounts it created exist for good.
        for code, account_id in written.account_ids.items():
            self._account_ids[code, entry.currency] = account_id
        return PostedEntry(
            entry_id=written.entry_id,
            idempotency_key=entry.idempotency_key,
            kind=entry.kind,
            reference=entry.reference,
            currency=entry.currency,
            postings=list(entry.postings),
            created=True,
            created_at=written.created_at,
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


@dataclass(frozen=True)
class _Written:
    """What a posting transaction wrote: the entry's id and time, the accounts' ids."""

    entry_id: int
    created_at: datetime
    account_ids: dict[str, int]


def _write_entry(conn: Connection, entry: JournalEntryRequest, known: dict[str, int]) -> _Written:
    """Write ``entry`` in the caller's transaction, if its conditions hold.

    Synchronous Core statements on one connection, in one call on a thread of the
    engine's writer (``db.session.write``).
    ``known`` holds account ids already committed (the caller's cache).

    Raises:
        _DuplicateKey: the key is posted (the transaction must be rolled back).
        InsufficientFunds, LedgerError, ReferenceConflict: see :meth:`Ledger.post`.
    """
    created_at = utcnow()
    dialect = conn.dialect.name
    deltas: dict[str, int] = {}
    for posting in entry.postings:
        deltas[posting.account] = deltas.get(posting.account, 0) + posting.amount
    # The entry goes first: its unique key is what makes concurrent posters of the same
    # key wait for, then fail against, the first one. On SQLite this first write also
    # takes the database write lock, so everything after it is serial and reads the
    # latest committed state.
    try:
        entry_id = conn.execute(
            _insert_for(dialect, JournalEntry)
            .values(
                idempotency_key=entry.idempotency_key,
                kind=entry.kind,
                reference=entry.reference,
                currency=entry.currency,
                created_at=created_at,
            )
            .returning(JournalEntry.id)
        ).scalar_one()
    except IntegrityError as exc:
        raise _DuplicateKey from exc

    if dialect == "postgresql":
        _lock_keys(conn, [entry.idempotency_key, *entry.excludes])
    _check_conditions(conn, entry)

    account_ids = {code: known[code] for code in deltas if code in known}
    unknown = sorted(code for code in deltas if code not in account_ids)
    if unknown:
        account_ids.update(_get_or_create_accounts(conn, dialect, unknown, entry.currency))

    conn.execute(
        _insert_for(dialect, PostingRow),
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
    if entry.settlement is not None:
        _record_settlement(conn, dialect, entry.settlement, entry.idempotency_key)
    # Last, so the hot account rows are held for as short as possible. The floor is part
    # of the UPDATE: it is checked against the row as written (PostgreSQL re-reads a row
    # it waited for), so no concurrent posting can overdraw it.
    moves = {account_ids[code]: delta for code, delta in deltas.items() if delta}
    floored = {
        account_ids[code]
        for code, delta in deltas.items()
        if delta < 0 and code not in entry.may_go_negative
    }
    short = _apply_moves(conn, dialect, moves, floored)
    if short is not None:
        code = next(c for c, i in account_ids.items() if i == short)
        # The account and the amount only: no balance, no personal data.
        raise InsufficientFunds(
            f"{code} cannot cover {-deltas[code]} {entry.currency} "
            f"(entry {entry.idempotency_key!r})",
            account=code,
        )
    return _Written(entry_id=entry_id, created_at=created_at, account_ids=account_ids)


def _lock_id(key: str) -> int:
    """A stable signed 64-bit advisory lock id of an idempotency key."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _lock_keys(conn: Connection, keys: Iterable[str]) -> None:
    """Take PostgreSQL transaction advisory locks on ``keys``, in one global order.

    An entry locks its own key and the keys it excludes. Two entries excluding each other
    thus share both locks: the second waits for the first to commit, and its next
    statement (READ COMMITTED) sees the first's entry. The locks are taken in ascending
    id order (the sorted subquery feeds the function in that order), so posters of
    overlapping key sets cannot deadlock; one statement takes them all.
    """
    ids = sorted({_lock_id(k) for k in keys})
    if len(ids) == 1:
        conn.execute(select(func.pg_advisory_xact_lock(cast(ids[0], BigInteger))))
        return
    ordered = (
        select(func.unnest(cast(ids, postgresql.ARRAY(BigInteger))).label("lock_id"))
        .order_by("lock_id")
        .subquery()
    )
    conn.execute(select(func.count(func.pg_advisory_xact_lock(ordered.c.lock_id))))


def _check_conditions(conn: Connection, entry: JournalEntryRequest) -> None:
    """Raise unless the required entries are posted as required and no excluded one is.

    One query reads what every required or excluded key moved, per account.
    """
    keys = sorted({r.key for r in entry.requires} | set(entry.excludes))
    if not keys:
        return
    rows = (
        conn.execute(
            select(
                JournalEntry.idempotency_key,
                JournalEntry.currency,
                Account.code,
                func.sum(PostingRow.amount),
            )
            .outerjoin(PostingRow, PostingRow.entry_id == JournalEntry.id)
            .outerjoin(Account, Account.id == PostingRow.account_id)
            .where(JournalEntry.idempotency_key.in_(keys))
            .group_by(JournalEntry.idempotency_key, JournalEntry.currency, Account.code)
        )
    ).all()
    currencies: dict[str, str] = {}
    moved: dict[tuple[str, str | None], int] = {}
    for key, currency, code, total in rows:
        currencies[key] = currency
        moved[key, code] = int(total or 0)

    for requirement in entry.requires:
        if requirement.key not in currencies:
            raise LedgerError(
                f"entry {entry.idempotency_key!r} requires {requirement.key!r}, which is not posted"
            )
        if requirement.account is None:
            continue
        if (
            currencies[requirement.key] != requirement.currency
            or moved.get((requirement.key, requirement.account)) != requirement.amount
        ):
            raise ReferenceConflict(
                f"entry {entry.idempotency_key!r} requires {requirement.key!r} for "
                f"{requirement.amount} {requirement.currency} on {requirement.account}, "
                "but it was posted for another amount, currency or account"
            )
    clash = next((key for key in sorted(entry.excludes) if key in currencies), None)
    if clash is not None:
        raise ReferenceConflict(
            f"entry {entry.idempotency_key!r} cannot be posted: {clash!r} was already posted"
        )


def _apply_moves(
    conn: Connection, dialect: str, moves: dict[int, int], floored: set[int]
) -> int | None:
    """Add ``moves`` (account id -> delta) to the balances; the id of an account too short.

    An account in ``floored`` is only moved if it stays at zero or above; if one is not,
    its id is returned and the caller rolls the whole entry back.

    PostgreSQL: one UPDATE per row, in ascending id order, so concurrent posters lock
    shared rows in the same order and cannot deadlock. SQLite has no row locks (the
    entry's first write took the database's), so one UPDATE moves every row.
    """
    if not moves:
        return None
    if dialect != "sqlite":
        for account_id in sorted(moves):
            delta = moves[account_id]
            statement = update(Account).where(Account.id == account_id)
            if account_id in floored:
                statement = statement.where(Account.balance + delta >= 0)
            result = conn.execute(statement.values(balance=Account.balance + delta))
            if account_id in floored and result.rowcount != 1:
                return account_id
        return None
    delta_of = case(moves, value=Account.id)
    statement = update(Account).where(Account.id.in_(list(moves)))
    if floored:
        statement = statement.where(
            or_(Account.id.not_in(list(floored)), Account.balance + delta_of >= 0)
        )
    moved = set(
        (
            conn.execute(statement.values(balance=Account.balance + delta_of).returning(Account.id))
        ).scalars()
    )
    # A row the floor kept out is not updated while the others are: the caller's raise
    # rolls the whole transaction back.
    return min(set(moves) - moved, default=None)


def _record_settlement(
    conn: Connection, dialect: str, record: ProviderTransaction, entry_key: str
) -> None:
    """Write the provider transaction an entry books; a later status replaces the earlier."""
    values = {
        "provider": record.provider,
        "kind": str(record.kind),
        "reference": record.reference,
        "provider_transaction_id": record.provider_transaction_id,
        "status": str(record.status),
        "gross": record.gross,
        "fee": record.fee,
        "currency": record.currency,
        "occurred_at": record.occurred_at,
        "settlement_date": record.settlement_date,
        "entry_key": entry_key,
        "updated_at": utcnow(),
    }
    stmt = _insert_for(dialect, ProviderTransactionRow).values(**values)
    changed = {k: v for k, v in values.items() if k not in ("provider", "kind", "reference")}
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["provider", "kind", "reference"], set_=changed)
    )


def _insert_for(
    dialect: str,
    model: type[Account] | type[JournalEntry] | type[PostingRow] | type[ProviderTransactionRow],
) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT construct, which knows ON CONFLICT on SQLite and PostgreSQL."""
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise LedgerError(f"unsupported database dialect {dialect!r}")


def _get_or_create_accounts(
    conn: Connection, dialect: str, codes: Sequence[str], currency: str
) -> dict[str, int]:
    """Ids of the accounts ``codes`` in ``currency``, creating the missing ones.

    ``ON CONFLICT DO NOTHING`` lets concurrent creators of the same account all succeed:
    the loser waits for the winner's row (PostgreSQL) or the write lock (SQLite), then
    inserts nothing and reads the winner's row.
    """
    now = utcnow()
    conn.execute(
        _insert_for(dialect, Account)
        .values([{"code": c, "currency": currency, "balance": 0, "created_at": now} for c in codes])
        .on_conflict_do_nothing(index_elements=[Account.code, Account.currency])
    )
    rows = (
        conn.execute(
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
