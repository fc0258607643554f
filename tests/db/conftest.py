"""Fixtures of the database tests: a ledger on a migrated SQLite or PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from payments_engine.db.ledger import Ledger
from payments_engine.db.session import create_engine, session_factory


@pytest.fixture
async def ledger(migrated_url: str) -> AsyncIterator[Ledger]:
    """A ledger on a fresh migrated database, audited after the test.

    Every scenario must leave the ledger balanced: the teardown fails the test when the
    trial balance is not zero or :meth:`Ledger.check_consistency` finds a problem.
    """
    engine = create_engine(migrated_url)
    try:
        ledger = Ledger(session_factory(engine))
        yield ledger
        assert all(total == 0 for total in (await ledger.trial_balance()).values())
        assert await ledger.check_consistency() == []
    finally:
        await engine.dispose()
