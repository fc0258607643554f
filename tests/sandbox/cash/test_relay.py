"""The networks' notifications through the engine's relay: verified, translated, deduplicated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from payments_engine.db.models import Base
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.relay.app import create_relay_app
from payments_engine.relay.config import RelayConfig
from payments_engine.relay.delivery import DeliveryOutcome
from tests.sandbox.cash.support import EFECTY_SECRET, OXXO_SECRET, PATIENCE, running_cash
from tests.sandbox.support import WebhookReceiver, wait_until


class Deliverer:
    """Stands in for Temporal: keeps every event the relay hands it."""

    def __init__(self) -> None:
        self.events: list[ProviderEvent] = []

    async def deliver(self, event: ProviderEvent) -> DeliveryOutcome:
        self.events.append(event)
        return DeliveryOutcome.DELIVERED


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[tuple[httpx.ASGITransport, Deliverer]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    deliverer = Deliverer()
    config = RelayConfig(
        secrets={"efecty": SecretStr(EFECTY_SECRET), "oxxo": SecretStr(OXXO_SECRET)}
    )
    app = create_relay_app(config, session_factory(engine), deliverer)
    yield httpx.ASGITransport(app=app), deliverer
    await engine.dispose()


async def test_the_relay_verifies_translates_and_drops_the_duplicate(
    relay: tuple[httpx.ASGITransport, Deliverer],
) -> None:
    transport, deliverer = relay
    receiver = WebhookReceiver()
    answers: list[int] = []

    async def forward(request: httpx.Request) -> httpx.Response:
        # The sandbox's webhooks reach the real relay app.
        receiver.requests.append(request)
        response = await transport.handle_async_request(request)
        await response.aread()
        answers.append(response.status_code)
        receiver.accepted.append(request)
        return response

    receiver.handle = forward  # type: ignore[method-assign]
    async with running_cash(receiver) as cash:
        await cash.efecty.issue("cash-order-e", "05")
        await cash.oxxo.issue("cash-order-o", "05")
        # Each: one event id twice, then a new one; the relay delivers two events.
        await wait_until(lambda: len(answers) >= 6, PATIENCE, "6 notifications")
    assert answers == [200] * 6
    by_provider = {
        name: [e for e in deliverer.events if e.provider == name] for name in ("efecty", "oxxo")
    }
    efecty, oxxo = by_provider["efecty"], by_provider["oxxo"]
    assert len(efecty) == len(oxxo) == 2
    assert {e.reference for e in efecty} == {"cash-order-e"}
    assert {e.reference for e in oxxo} == {"cash-order-o"}
    assert all(e.outcome is TransferOutcome.SUCCEEDED and e.needs_confirmation for e in efecty)
    assert all(e.outcome is TransferOutcome.CHANGED for e in oxxo)
    assert len({e.event_id for e in efecty}) == len({e.event_id for e in oxxo}) == 2
