"""Fixtures of the bank simulator tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sandbox.bank.support import Bank, running_bank


@pytest.fixture
async def bank() -> AsyncIterator[Bank]:
    """A running sandbox with the bank, a 0.3 s settlement and a receiver taking every webhook."""
    async with running_bank() as running:
        yield running
