"""Fixtures of the card issuer simulator tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sandbox.issuer.support import Issuer, running_issuer


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    """A running sandbox with the issuer, fast timings and an engine double that approves."""
    async with running_issuer() as running:
        yield running
