"""Fixtures of the merchant recorder tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sandbox.merchant.support import Merchant, running_merchant


@pytest.fixture
async def merchant() -> AsyncIterator[Merchant]:
    """A running sandbox with the merchant recorder, without authentication."""
    async with running_merchant() as running:
        yield running
