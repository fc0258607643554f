"""The relay's outbox: stored events whose delivery failed reach their workflows later."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments_engine.activities.providers.base import MalformedEvent
from payments_engine.activities.providers.hub.webhooks import translate as parse_hub
from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.events import ProviderEvent
from payments_engine.relay.app import create_relay_app
from payments_engine.relay.config import RelayConfig
from payments_engine.relay.delivery import DeliveryOutcome
from payments_engine.relay.redelivery import Redeliverer
from payments_engine.relay.store import Backoff, EventStore, as_utc
from tests.relay.conftest import (
    NOW,
    PHONE,
    SECRET,
    FakeClock,
    FakeDeliverer,
    callback,
    encode,
    signed,
    stored_rows,
)

URL = "/webhooks/hub"
Sessions = async_sessionmaker[AsyncSession]
LEASE = timedelta(seconds=30)
PARSERS = {name: spec.translate for name, spec in PROVIDERS.items()}
REDELIVERY_LOGGER = "payments_engine.relay.redelivery"


def relay_config() -> RelayConfig:
    """The hub's secret; backoff 1 s doubling up to 8 s; a quick poll."""
    return RelayConfig(
        secrets={"hub": SecretStr(SECRET)},
        redelivery_poll_seconds=0.01,
        redelivery_initial_backoff_seconds=1.0,
        redelivery_max_backoff_seconds=8.0,
    )


class Relay:
    """A relay app on a movable clock, with an HTTP client and its redelivery loop."""

    def __init__(self, http: httpx.AsyncClient, redeliverer: Redeliverer, clock: FakeClock) -> None:
        self.http = http
        self.redeliverer = redeliverer
        self.clock = clock

    async def post(self, body: bytes) -> httpx.Response:
        """Send ``body`` signed now, by the relay's clock."""
        return await self.http.post(
            URL, content=body, headers=signed(body, timestamp=int(self.clock()))
        )


@pytest.fixture
async def relay(sessions: Sessions, deliverer: FakeDeliverer) -> AsyncIterator[Relay]:
    """A relay whose loop is NOT running: tests drive its rounds one at a time."""
    clock = FakeClock()
    app = create_relay_app(relay_config(), sessions, deliverer, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://relay"
    ) as http:
        yield Relay(http, app.state.redeliverer, clock)


async def test_event_answered_503_is_delivered_later_without_a_resend(
    relay: Relay, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    deliverer.unavailable = True
    body = encode(callback())
    refused = await relay.post(body)
    assert refused.status_code == 503
    [row] = await stored_rows(sessions)
    assert row.next_attempt_at is not None
    assert as_utc(row.next_attempt_at).timestamp() == NOW + 1

    deliverer.unavailable = False
    too_early = await relay.redeliverer.redeliver_due()
    relay.clock.advance(1)
    done = await relay.redeliverer.redeliver_due()

    assert too_early.due == 0
    assert (done.due, done.claimed, done.settled) == (1, 1, 1)
    assert deliverer.events == [parse_hub(body)] * 2
    [row] = await stored_rows(sessions)
    assert (row.state, row.delivery_attempts) == ("delivered", 2)
    assert row.delivered_at is not None and row.next_attempt_at is None
    assert (await relay.redeliverer.redeliver_due()).due == 0


async def test_backoff_doubles_up_to_its_cap(
    relay: Relay, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    deliverer.unavailable = True
    await relay.post(encode(callback()))
    waits: list[float] = []

    for _ in range(5):
        [row] = await stored_rows(sessions)
        assert row.next_attempt_at is not None
        wait = as_utc(row.next_attempt_at).timestamp() - relay.clock()
        waits.append(wait)
        relay.clock.advance(wait - 0.5)
        assert (await relay.redeliverer.redeliver_due()).due == 0
        relay.clock.advance(0.5)
        done = await relay.redeliverer.redeliver_due()
        assert (done.claimed, done.settled, done.halted) == (1, 0, True)

    assert waits == [1, 2, 4, 8, 8]
    [row] = await stored_rows(sessions)
    assert (row.state, row.delivery_attempts) == ("received", 6)


async def test_redelivery_delivers_the_stored_body_not_a_conflicting_copy(
    relay: Relay, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    deliverer.unavailable = True
    original = encode(callback(status="MR101"))
    conflicting = encode(callback(status="ER102", reference="payout-OTHER"))
    await relay.post(original)
    deliverer.unavailable = False
    assert (await relay.post(conflicting)).status_code == 409

    relay.clock.advance(1)
    await relay.redeliverer.redeliver_due()

    assert deliverer.events[-1] == parse_hub(original)
    assert parse_hub(conflicting) not in deliverer.events
    [row] = await stored_rows(sessions)
    assert (row.state, row.raw_body) == ("delivered", original)


async def test_unavailable_delivery_halts_the_round(
    relay: Relay, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    deliverer.unavailable = True
    for n in range(3):
        await relay.post(encode(callback(event_id=f"evt-{n}")))
    relay.clock.advance(1)
    tried = len(deliverer.events)

    done = await relay.redeliverer.redeliver_due()

    # Temporal is away: one attempt tells, the other two are not made to wait it out.
    assert (done.due, done.claimed, done.halted) == (3, 1, True)
    assert len(deliverer.events) == tried + 1
    deliverer.unavailable = False
    done = await relay.redeliverer.redeliver_due()
    assert (done.due, done.claimed, done.settled) == (2, 2, 2)
    relay.clock.advance(2)
    assert (await relay.redeliverer.redeliver_due()).settled == 1
    assert {row.state for row in await stored_rows(sessions)} == {"delivered"}


async def test_unmatched_redelivery_is_kept_for_reconciliation(
    relay: Relay, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    deliverer.unavailable = True
    await relay.post(encode(callback(reference="payout-GONE")))
    deliverer.unavailable = False
    deliverer.outcome = DeliveryOutcome.UNMATCHED
    relay.clock.advance(1)

    await relay.redeliverer.redeliver_due()

    [row] = await stored_rows(sessions)
    assert (row.state, row.delivery_attempts, row.delivered_at) == ("unmatched", 2, None)
    assert row.next_attempt_at is None


def _store(sessions: Sessions, clock: FakeClock) -> EventStore:
    return EventStore(sessions, clock, Backoff(1.0, 8.0), LEASE)


async def test_event_stored_by_a_relay_that_died_is_delivered_after_the_lease(
    relay: Relay, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    body = encode(callback())
    # Stored, then the process died before delivering: no attempt was ever recorded.
    await _store(sessions, relay.clock).store("hub", "evt-0001", "payout-ABC", NOW, body)

    relay.clock.advance(LEASE.total_seconds() - 1)
    assert (await relay.redeliverer.redeliver_due()).due == 0
    relay.clock.advance(1)
    done = await relay.redeliverer.redeliver_due()

    assert done.settled == 1
    assert deliverer.events == [parse_hub(body)]
    [row] = await stored_rows(sessions)
    assert (row.state, row.delivery_attempts) == ("delivered", 1)


async def test_a_claim_is_won_once(sessions: Sessions) -> None:
    clock = FakeClock()
    store = _store(sessions, clock)
    body = encode(callback())
    await store.store("hub", "evt-0001", "payout-ABC", NOW, body)
    clock.advance(LEASE.total_seconds())
    [due] = await store.due(10)

    first, second = await store.claim(due), await store.claim(due)

    assert (first, second) == (body, None)
    assert await store.due(10) == []


class _SlowDeliverer(FakeDeliverer):
    """Takes a moment per event, so two loops' rounds overlap."""

    async def deliver(self, event: ProviderEvent) -> DeliveryOutcome:
        await asyncio.sleep(0.01)
        return await super().deliver(event)


async def test_two_relays_on_one_database_deliver_each_event_once(migrated_url: str) -> None:
    clock = FakeClock()
    engines = [create_engine(migrated_url), create_engine(migrated_url)]
    try:
        stores = [_store(session_factory(engine), clock) for engine in engines]
        bodies = [encode(callback(event_id=f"evt-{n}", reference=f"payout-{n}")) for n in range(6)]
        for n, body in enumerate(bodies):
            await stores[0].store("hub", f"evt-{n}", f"payout-{n}", NOW, body)
        clock.advance(LEASE.total_seconds())
        deliverers = [_SlowDeliverer(), _SlowDeliverer()]
        loops = [
            Redeliverer(store, deliverer, PARSERS, poll_seconds=0.01, batch_size=100)
            for store, deliverer in zip(stores, deliverers, strict=True)
        ]

        rounds = await asyncio.gather(*(loop.redeliver_due() for loop in loops))

        delivered = sorted(e.event_id for d in deliverers for e in d.events)
        assert delivered == [f"evt-{n}" for n in range(6)]
        assert sum(r.claimed for r in rounds) == 6
        rows = await stored_rows(session_factory(engines[0]))
        assert {(row.state, row.delivery_attempts) for row in rows} == {("delivered", 1)}
    finally:
        for engine in engines:
            await engine.dispose()


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def test_the_app_lifespan_runs_the_loop_through_a_temporal_outage(
    sessions: Sessions, deliverer: FakeDeliverer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="payments_engine.relay")
    clock = FakeClock()
    app = create_relay_app(relay_config(), sessions, deliverer, clock=clock)
    deliverer.unavailable = True
    body = encode(callback())

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://relay"
        ) as http:
            assert (await http.post(URL, content=body, headers=signed(body))).status_code == 503
        for _ in range(4):
            clock.advance(8)
            attempts = len(deliverer.events)
            await _eventually(partial(_more_than, deliverer, attempts))
        deliverer.unavailable = False
        clock.advance(8)

        async def delivered() -> bool:
            return [row.state for row in await stored_rows(sessions)] == ["delivered"]

        await _eventually(delivered)

    assert app.state.redeliverer._task is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    outage = [r for r in warnings if r.name == REDELIVERY_LOGGER]
    # Four failed redeliveries, one warning: the outage is logged when it starts.
    assert len(outage) == 1 and "delivery unavailable" in outage[0].getMessage()
    messages = [r.getMessage() for r in caplog.records if r.name == REDELIVERY_LOGGER]
    assert any(m.startswith("redelivery resumed") for m in messages)
    assert messages[-1] == "redelivery stopped"
    assert all(r.exc_info is None for r in caplog.records)
    assert PHONE not in caplog.text


async def _more_than(deliverer: FakeDeliverer, attempts: int) -> bool:
    return len(deliverer.events) > attempts


async def test_the_loop_outlives_a_database_outage(
    engine: AsyncEngine,
    sessions: Sessions,
    deliverer: FakeDeliverer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="payments_engine.relay")
    clock = FakeClock()
    store = _store(sessions, clock)
    await store.store("hub", "evt-0001", "payout-ABC", NOW, encode(callback()))
    clock.advance(LEASE.total_seconds())
    loop = Redeliverer(store, deliverer, PARSERS, poll_seconds=0.01, batch_size=100)
    await engine.dispose()
    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'ledger.db'}")
    sessions.configure(bind=broken)
    try:
        loop.start()
        await asyncio.sleep(0.2)
        assert deliverer.events == []
        sessions.configure(bind=engine)

        async def delivered() -> bool:
            return [row.state for row in await stored_rows(sessions)] == ["delivered"]

        await _eventually(delivered)
        await loop.stop()
    finally:
        await broken.dispose()

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage().startswith("redelivery paused: database unavailable")
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text


class _Blocking(FakeDeliverer):
    """Never answers: a signal stuck in flight."""

    async def deliver(self, event: ProviderEvent) -> DeliveryOutcome:
        self.events.append(event)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_stop_cancels_a_stuck_attempt_after_the_grace(sessions: Sessions) -> None:
    clock = FakeClock()
    store = _store(sessions, clock)
    await store.store("hub", "evt-0001", "payout-ABC", NOW, encode(callback()))
    clock.advance(LEASE.total_seconds())
    deliverer = _Blocking()
    loop = Redeliverer(store, deliverer, PARSERS, poll_seconds=0.01, batch_size=100)
    loop.start()
    await _eventually(partial(_more_than, deliverer, 0))

    await asyncio.wait_for(loop.stop(grace_seconds=0.05), timeout=2)

    # Left for the next relay (or this one, restarted) once the lease runs out.
    [row] = await stored_rows(sessions)
    assert (row.state, row.delivery_attempts) == ("received", 0)


class _Broken(FakeDeliverer):
    async def deliver(self, event: ProviderEvent) -> DeliveryOutcome:
        self.events.append(event)
        raise KeyError(PHONE)


def _unreadable(body: bytes) -> ProviderEvent:
    raise MalformedEvent("invalid hub callback: status (enum)")


def _crashing(body: bytes) -> ProviderEvent:
    raise ValueError(f"cannot read {PHONE}")


@pytest.mark.parametrize(
    ("deliverer", "parsers"),
    [
        (_Broken(), PARSERS),
        (FakeDeliverer(), {"hub": _unreadable}),
        (FakeDeliverer(), {"hub": _crashing}),
        (FakeDeliverer(), {}),
    ],
    ids=["deliverer-bug", "no-longer-parses", "parser-bug", "no-parser"],
)
async def test_an_event_that_cannot_be_delivered_is_retried_with_backoff(
    sessions: Sessions,
    caplog: pytest.LogCaptureFixture,
    deliverer: FakeDeliverer,
    parsers: dict[str, Callable[[bytes], ProviderEvent]],
) -> None:
    clock = FakeClock()
    store = _store(sessions, clock)
    await store.store("hub", "evt-0001", "payout-ABC", NOW, encode(callback()))
    clock.advance(LEASE.total_seconds())
    loop = Redeliverer(store, deliverer, parsers, poll_seconds=0.01, batch_size=100)

    done = await loop.redeliver_due()

    # Not halted: the trouble is this event's, not Temporal's.
    assert (done.claimed, done.settled, done.halted) == (1, 0, False)
    [row] = await stored_rows(sessions)
    assert (row.state, row.delivery_attempts) == ("received", 1)
    assert row.next_attempt_at is not None
    assert as_utc(row.next_attempt_at).timestamp() == clock() + 1
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "evt-0001" in line.getMessage() and line.exc_info is None
    assert PHONE not in caplog.text
