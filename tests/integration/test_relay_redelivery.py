"""Nothing stored is left undelivered: webhooks that arrive while Temporal is unreachable.

A second relay, on the stack's database, reaches Temporal through a TCP proxy the test
cuts: a real outage between relay and Temporal. The "provider" sends each webhook once
and never retries (as MTN MoMo does); the relay answers 503 and keeps it. Once the proxy
is restored, the relay's own redelivery loop delivers the stored events, and the payouts
settle long before their first status poll (30 s).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from payments_engine.activities.providers.hub.wire import PROVIDER_NAME
from payments_engine.db.migrate import upgrade
from payments_engine.db.models import WebhookEvent
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.payout import PayoutStatus
from payments_engine.domain.webhooks import SIGNATURE_HEADER, sign
from payments_engine.relay.app import create_relay_app
from payments_engine.relay.config import RelayConfig
from payments_engine.relay.delivery import TemporalDeliverer
from payments_engine.runtime.serving import RunningServer, start_server
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import eventually, payout, transfers
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_verified_webhooks import hub_callback

pytestmark = pytest.mark.integration

FIRST_POLL_SECONDS = 30


@pytest.fixture
async def temporal_proxy(stack: EngineStack) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the stack's Temporal frontend."""
    host, _, port = stack.settings.temporal_address.rpartition(":")
    proxy = TcpProxy(host or "127.0.0.1", int(port))
    await proxy.start()
    yield proxy
    await proxy.cut()


@dataclass
class ProxiedRelay:
    """A relay reaching Temporal only through the proxy, and its own event database."""

    server: RunningServer
    sessions: async_sessionmaker[AsyncSession]

    @property
    def url(self) -> str:
        """Base URL of the relay."""
        return self.server.url


@pytest.fixture
async def proxied_relay(
    stack: EngineStack, temporal_proxy: TcpProxy, tmp_path: Path
) -> AsyncIterator[ProxiedRelay]:
    """A relay whose only way to Temporal is the proxy.

    It keeps its events in a database of its own: relays sharing one would take over
    each other's backlog (as they should), and the stack's relay reaches Temporal.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    await upgrade(url)
    engine = create_engine(url)
    client = await Client.connect(
        temporal_proxy.address,
        namespace=stack.settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    assert stack.settings.provider("hub").webhook_secret is not None
    app = create_relay_app(
        RelayConfig(
            secrets={PROVIDER_NAME: stack.settings.provider("hub").webhook_secret},
            redelivery_poll_seconds=0.2,
            redelivery_initial_backoff_seconds=0.2,
            redelivery_max_backoff_seconds=1.0,
        ),
        session_factory(engine),
        TemporalDeliverer(client, rpc_timeout=timedelta(seconds=2)),
    )
    server = await start_server(app, "127.0.0.1", 0)
    yield ProxiedRelay(server, session_factory(engine))
    await server.stop()
    await engine.dispose()


async def send_once(stack: EngineStack, relay: ProxiedRelay, body: dict[str, object]) -> int:
    """POST one signed webhook and return the status; like MTN MoMo, never retry it."""
    raw = json.dumps(body).encode()
    assert stack.settings.provider("hub").webhook_secret is not None
    secret = stack.settings.provider("hub").webhook_secret.get_secret_value()
    async with httpx.AsyncClient(base_url=relay.url, timeout=30) as client:
        answer = await client.post(
            f"/webhooks/{PROVIDER_NAME}",
            content=raw,
            headers={SIGNATURE_HEADER: sign(secret, int(time.time()), raw)},
        )
    return answer.status_code


async def health(relay: ProxiedRelay) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=relay.url) as client:
        answer = await client.get("/healthz")
    answer.raise_for_status()
    body: dict[str, object] = answer.json()
    return body


# Once is enough: a Temporal restart, not the ledger's store (the relay's store runs on
# PostgreSQL in tests/relay).
@pytest.mark.slow
async def test_webhooks_stored_while_temporal_is_away_are_delivered_when_it_is_back(
    stack: EngineStack,
    merchant: str,
    payments: PaymentsClient,
    sandbox_admin: httpx.AsyncClient,
    temporal_proxy: TcpProxy,
    proxied_relay: ProxiedRelay,
) -> None:
    started = asyncio.get_running_loop().time()
    # The hub pays these and sends no webhook of its own: only ours can tell the engine.
    paid = [payout(merchant, Scenario.WEBHOOK_NEVER_SENT) for _ in range(3)]
    pending = payout(merchant, Scenario.NEVER_RESOLVES)
    for request in [*paid, pending]:
        await payments.create_payout(request)
    references = [r.workflow_id for r in [*paid, pending]]
    records = await eventually(
        lambda: transfers(sandbox_admin),
        lambda r: (
            all(ref in r for ref in references)
            and all(r[p.workflow_id]["status"] == "MR101" for p in paid)
        ),
    )

    await temporal_proxy.cut()
    statuses = await asyncio.gather(
        *(
            send_once(stack, proxied_relay, hub_callback(records[p.workflow_id], "MR101"))
            for p in paid
        )
    )
    assert statuses == [503, 503, 503]
    # Stored while Temporal is away, then the same event id with another body: refused,
    # and the stored (pending) body is what gets delivered later.
    stale = hub_callback(records[pending.workflow_id], "MR102")
    assert await send_once(stack, proxied_relay, stale) == 503
    assert await send_once(stack, proxied_relay, stale | {"status": "MR101"}) == 409
    backlog = await health(proxied_relay)
    assert backlog["undelivered"] == 4
    assert backlog["conflicts"] == 1

    await temporal_proxy.restore()
    views = [
        await eventually(
            lambda p=p: payments.get_payout(p.payout_id),  # type: ignore[misc]
            lambda v: v.status.is_final,
            timeout=20,
        )
        for p in paid
    ]
    elapsed = asyncio.get_running_loop().time() - started
    assert [v.status for v in views] == [PayoutStatus.SUCCEEDED] * 3
    # Settled by the redelivered webhooks (each confirmed by one status query), not by
    # the poll timer, which had not fired yet.
    assert elapsed < FIRST_POLL_SECONDS
    assert [v.status_queries for v in views] == [1, 1, 1]
    await eventually(lambda: health(proxied_relay), lambda h: h["undelivered"] == 0)

    view = await payments.get_payout(pending.payout_id)
    assert view.status is PayoutStatus.SUBMITTED and view.events_applied == 1
    async with proxied_relay.sessions() as session:
        stored = await session.scalar(
            select(WebhookEvent).where(WebhookEvent.event_id == stale["eventId"])
        )
    assert stored is not None and stored.state == "delivered"
    assert json.loads(stored.raw_body)["status"] == "MR102"
    for request in paid:
        kinds = sorted(e.kind for e in await stack.ledger.entries(reference=request.payout_id))
        assert kinds == ["payout_reserve", "payout_settle"]
    entries = await stack.ledger.entries(reference=pending.payout_id)
    assert [e.kind for e in entries] == ["payout_reserve"]
