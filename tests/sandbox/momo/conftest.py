"""Fixtures of the MoMo simulator tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sandbox.momo.support import Momo, running_momo


@pytest.fixture
async def momo() -> AsyncIterator[Momo]:
    """A running sandbox with MoMo, fast timings and a receiver accepting every callback."""
    async with running_momo() as running:
        yield running
