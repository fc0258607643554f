"""Fixtures of the cash network tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sandbox.cash.support import CashSandbox, Network, running_cash


@pytest.fixture
async def cash() -> AsyncIterator[CashSandbox]:
    """A running sandbox with Efecty and OXXO on fast timings, every webhook accepted."""
    async with running_cash() as running:
        yield running


@pytest.fixture(params=["efecty", "oxxo"])
async def network(request: pytest.FixtureRequest, cash: CashSandbox) -> Network:
    """Each cash network in turn."""
    found: Network = cash.network(request.param)
    return found
