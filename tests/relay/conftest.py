"""Fixtures for the relay: a real SQLite schema, a fake deliverer and an HTTP client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments_engine.activities.providers.base import ProviderSpec
from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.db.models import Base, WebhookEvent
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.events import ProviderEvent
from payments_engine.domain.webhooks import SIGNATURE_HEADER, sign
from payments_engine.relay.app import create_relay_app
from payments_engine.relay.config import RelayConfig
from payments_engine.relay.delivery import DeliveryOutcome, DeliveryUnavailable

SECRET = "whsec_relay_test_secret"
NOW = 1_760_000_000
PHONE = "+254712345678"


class FakeDeliverer:
    """Records every event it is handed; answers ``outcome`` or raises when unavailable."""

    def __init__(self) -> None:
        self.events: list[ProviderEvent] = []
        self.outcome = DeliveryOutcome.DELIVERED
        self.unavailable = False

    async def deliver(self, event: ProviderEvent) -> DeliveryOutcome:
        self.events.append(event)
        if self.unavailable:
            raise DeliveryUnavailable("temporal is down")
        return self.outcome


class FakeClock:
    """Unix seconds that move only when a test says so."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def callback(
    event_id: str = "evt-0001",
    reference: str = "payout-ABC",
    status: str = "MR101",
    **overrides: Any,
) -> dict[str, Any]:
    """A hub ``transactionStatus`` callback as the hub sends it."""
    payload: dict[str, Any] = {
        "eventId": event_id,
        "type": "transactionStatus",
        "thirdPartyTransId": reference,
        "transactionId": "HUB-778899",
        "status": status,
        "currency": "KES",
        "sendAmount": "1500.00",
        "receiveAmount": "1500.00",
        "fxRate": "1",
        # Personal data in the body: it must never reach a log line or a response.
        "message": f"Paid to {PHONE}",
        "timestamp": "2025-10-09T08:53:20Z",
    }
    payload.update(overrides)
    return payload


def encode(payload: dict[str, Any]) -> bytes:
    """Serialise a payload the way a provider might: compact, non-canonical key order."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def signed(body: bytes, secret: str = SECRET, timestamp: int = NOW) -> dict[str, str]:
    """Headers carrying a valid signature of ``body``."""
    return {SIGNATURE_HEADER: sign(secret, timestamp, body), "Content-Type": "application/json"}


async def stored_rows(sessions: async_sessionmaker[AsyncSession]) -> list[WebhookEvent]:
    """Every stored webhook event, oldest first."""
    async with sessions() as session:
        return list(await session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database holding the schema (SQLite, then PostgreSQL)."""
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test database."""
    return session_factory(engine)


@pytest.fixture
def deliverer() -> FakeDeliverer:
    """A deliverer that accepts every event until told otherwise."""
    return FakeDeliverer()


@pytest.fixture
def config() -> RelayConfig:
    """The hub's secret, the default tolerance and size limit."""
    return RelayConfig(secrets={"hub": SecretStr(SECRET)})


@pytest.fixture
def providers() -> dict[str, ProviderSpec]:
    """The registry the ``client`` fixture's relay reads; a test may replace a spec."""
    return dict(PROVIDERS)


@pytest.fixture
async def client(
    config: RelayConfig,
    sessions: async_sessionmaker[AsyncSession],
    deliverer: FakeDeliverer,
    providers: dict[str, ProviderSpec],
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the relay app, whose clock stands at ``NOW``."""
    app = create_relay_app(
        config, sessions, deliverer, clock=lambda: float(NOW), providers=providers
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
        yield http
