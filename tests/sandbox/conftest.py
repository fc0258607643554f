"""Fixtures of the sandbox tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sandbox.support import Sandbox, running_sandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A running sandbox with fast timings and a receiver that accepts every webhook."""
    async with running_sandbox() as running:
        yield running
