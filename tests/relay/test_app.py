"""The relay's HTTP contract: signature, parsing, storage, dedupe and delivery outcomes."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments_engine.activities.providers.base import ProviderSpec
from payments_engine.db.models import WebhookEventConflict
from payments_engine.db.session import create_engine
from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.domain.webhooks import SIGNATURE_HEADER, compute_signature
from payments_engine.relay.app import create_relay_app
from payments_engine.relay.config import RelayConfig
from payments_engine.relay.delivery import DeliveryOutcome
from payments_engine.runtime.serving import start_server
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


async def test_valid_event_is_stored_and_delivered(
    client: httpx.AsyncClient, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    body = encode(callback(status="ER102"))

    response = await client.post(URL, content=body, headers=signed(body))

    assert response.status_code == 200
    assert response.json() == {"status": "delivered"}
    assert deliverer.events == [
        ProviderEvent(
            provider="hub",
            event_id="evt-0001",
            reference="payout-ABC",
            outcome=TransferOutcome.FAILED,
            provider_status="ER102",
            provider_transaction_id="HUB-778899",
            failure_code="provider_insufficient_funds",
            message=f"Paid to {PHONE}",
            occurred_at=datetime(2025, 10, 9, 8, 53, 20, tzinfo=UTC),
            currency="KES",
            amount_reported="1500.00",
            amount_minor=150000,
            needs_confirmation=True,
        )
    ]
    [row] = await stored_rows(sessions)
    assert row.raw_body == body
    assert (row.provider, row.event_id, row.reference) == ("hub", "evt-0001", "payout-ABC")
    assert row.state == "delivered"
    assert row.signature_timestamp == NOW
    assert row.delivery_attempts == 1
    assert row.delivered_at is not None


async def test_duplicate_event_is_acknowledged_but_not_delivered_again(
    client: httpx.AsyncClient, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    body = encode(callback())
    first = await client.post(URL, content=body, headers=signed(body))
    # A provider retry is signed afresh, at a later time.
    again = await client.post(URL, content=body, headers=signed(body, timestamp=NOW + 60))

    assert first.json() == {"status": "delivered"}
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert len(deliverer.events) == 1
    assert len(await stored_rows(sessions)) == 1


async def test_concurrent_copies_store_one_row(
    client: httpx.AsyncClient, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    body = encode(callback())

    responses = await asyncio.gather(
        *(client.post(URL, content=body, headers=signed(body)) for _ in range(4))
    )

    assert [r.status_code for r in responses] == [200] * 4
    assert {r.json()["status"] for r in responses} <= {"delivered", "duplicate"}
    [row] = await stored_rows(sessions)
    assert row.state == "delivered"
    assert 1 <= len(deliverer.events) <= 4


class _SlowThenClosed:
    """The first copy signals slowly; a retry meanwhile finds the workflow closed."""

    def __init__(self) -> None:
        self.calls = 0
        self.second_done = asyncio.Event()

    async def deliver(self, event: ProviderEvent) -> DeliveryOutcome:
        self.calls += 1
        if self.calls == 1:
            await self.second_done.wait()
            return DeliveryOutcome.DELIVERED
        self.second_done.set()
        return DeliveryOutcome.UNMATCHED


async def test_delivered_wins_over_a_retry_that_found_the_workflow_closed(
    config: RelayConfig, sessions: Sessions
) -> None:
    deliverer = _SlowThenClosed()
    app = create_relay_app(config, sessions, deliverer, clock=lambda: float(NOW))
    body = encode(callback())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
        first = asyncio.create_task(http.post(URL, content=body, headers=signed(body)))
        while deliverer.calls < 1:
            await asyncio.sleep(0.01)
        retry = await http.post(URL, content=body, headers=signed(body))
        assert retry.status_code == 202
        assert (await first).status_code == 200
    [row] = await stored_rows(sessions)
    assert row.state == "delivered" and row.delivered_at is not None


def _wrong_secret(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, secret="whsec_someone_else")


def _tampered(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"1500.00", b"9500.00"), signed(body)


def _missing(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": "application/json"}


def _no_v1(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {SIGNATURE_HEADER: f"t={NOW}"}


def _bad_timestamp(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {SIGNATURE_HEADER: f"t=soon,v1={compute_signature(SECRET, NOW, body)}"}


def _stale(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, timestamp=NOW - 301)


def _future(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, timestamp=NOW + 301)


@pytest.mark.parametrize(
    "forge",
    [_wrong_secret, _tampered, _missing, _no_v1, _bad_timestamp, _stale, _future],
)
async def test_bad_signature_is_refused_before_anything_is_stored(
    client: httpx.AsyncClient,
    sessions: Sessions,
    deliverer: FakeDeliverer,
    forge: Callable[[bytes], tuple[bytes, dict[str, str]]],
) -> None:
    content, headers = forge(encode(callback()))

    response = await client.post(URL, content=content, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}
    assert await stored_rows(sessions) == []
    assert deliverer.events == []


@pytest.mark.parametrize("age", [300, -300])
async def test_signature_at_the_edge_of_the_tolerance_is_accepted(
    client: httpx.AsyncClient, age: int
) -> None:
    body = encode(callback())

    response = await client.post(URL, content=body, headers=signed(body, timestamp=NOW - age))

    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"eventId": "evt-1", ',
        encode(callback(status="MR999")),
        encode({k: v for k, v in callback().items() if k != "thirdPartyTransId"}),
        encode(callback()).replace(b"Paid to", b"Paid \xff\xfe to"),
        b"",
    ],
    ids=["bad-json", "unknown-status", "missing-reference", "not-utf8", "empty"],
)
async def test_malformed_event_is_refused(
    client: httpx.AsyncClient, sessions: Sessions, deliverer: FakeDeliverer, body: bytes
) -> None:
    response = await client.post(URL, content=body, headers=signed(body))

    assert response.status_code == 400
    assert response.json() == {"error": "malformed event"}
    assert await stored_rows(sessions) == []
    assert deliverer.events == []


async def test_oversized_body_is_refused(
    client: httpx.AsyncClient, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    body = encode(callback(message="x" * 70_000))

    response = await client.post(URL, content=body, headers=signed(body))

    assert response.status_code == 413
    assert response.json() == {"error": "body too large"}
    assert await stored_rows(sessions) == []
    assert deliverer.events == []


@pytest.fixture
async def small_client(
    sessions: Sessions, deliverer: FakeDeliverer
) -> AsyncIterator[httpx.AsyncClient]:
    """A relay that accepts bodies of at most 1000 bytes."""
    config = RelayConfig(secrets={"hub": SecretStr(SECRET)}, max_body_bytes=1000)
    app = create_relay_app(config, sessions, deliverer, clock=lambda: float(NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
        yield http


async def test_streamed_body_without_length_stops_being_read_at_the_limit(
    small_client: httpx.AsyncClient, sessions: Sessions
) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for n in range(100):
            sent.append(n)
            yield b"x" * 100

    response = await small_client.post(URL, content=chunks(), headers={SIGNATURE_HEADER: "t=1"})

    assert response.status_code == 413
    # 11 chunks of 100 bytes cross the 1000-byte limit; the other 89 were never pulled.
    assert len(sent) < 20
    assert await stored_rows(sessions) == []


async def test_body_exactly_at_the_limit_is_read(
    small_client: httpx.AsyncClient, sessions: Sessions
) -> None:
    body = encode(callback())
    body = body.replace(b'"fxRate":"1"', b'"fxRate":"1' + b"0" * (1000 - len(body)) + b'"')
    assert len(body) == 1000

    response = await small_client.post(URL, content=body, headers=signed(body))

    assert response.status_code == 200
    assert len(await stored_rows(sessions)) == 1


@pytest.mark.parametrize(
    ("secrets", "provider"),
    [
        ({"hub": SECRET}, "stripe"),
        # A secret without a parser: we could verify it but not read it.
        ({"hub": SECRET, "acme": "whsec_acme"}, "acme"),
        # A parser without a secret: we cannot authenticate it.
        ({"acme": "whsec_acme"}, "hub"),
    ],
)
async def test_unknown_provider_is_not_found(
    sessions: Sessions, deliverer: FakeDeliverer, secrets: dict[str, str], provider: str
) -> None:
    config = RelayConfig(secrets={name: SecretStr(value) for name, value in secrets.items()})
    app = create_relay_app(config, sessions, deliverer, clock=lambda: float(NOW))
    body = encode(callback())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://relay"
    ) as http:
        response = await http.post(f"/webhooks/{provider}", content=body, headers=signed(body))

    assert response.status_code == 404
    assert response.json() == {"error": "unknown provider"}
    assert await stored_rows(sessions) == []
    assert deliverer.events == []


async def test_unmatched_reference_is_kept_for_reconciliation(
    client: httpx.AsyncClient, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    deliverer.outcome = DeliveryOutcome.UNMATCHED
    body = encode(callback(reference="payout-GONE"))

    response = await client.post(URL, content=body, headers=signed(body))
    again = await client.post(URL, content=body, headers=signed(body))

    assert response.status_code == 202
    assert response.json() == {"status": "unmatched"}
    assert again.json() == {"status": "duplicate"}
    assert len(deliverer.events) == 1
    [row] = await stored_rows(sessions)
    assert (row.state, row.reference, row.raw_body) == ("unmatched", "payout-GONE", body)
    assert row.delivered_at is None


async def test_unavailable_delivery_is_retried_by_the_provider(
    client: httpx.AsyncClient, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    deliverer.unavailable = True
    body = encode(callback())

    refused = await client.post(URL, content=body, headers=signed(body))

    assert refused.status_code == 503
    assert refused.json() == {"error": "delivery unavailable"}
    [row] = await stored_rows(sessions)
    assert (row.state, row.delivery_attempts, row.raw_body) == ("received", 1, body)

    deliverer.unavailable = False
    retried = await client.post(URL, content=body, headers=signed(body, timestamp=NOW + 180))

    assert retried.status_code == 200
    assert retried.json() == {"status": "delivered"}
    assert len(deliverer.events) == 2
    assert deliverer.events[0] == deliverer.events[1]
    [row] = await stored_rows(sessions)
    assert (row.state, row.delivery_attempts) == ("delivered", 2)
    assert row.delivered_at is not None


async def _break_database(engine: AsyncEngine, sessions: Sessions, tmp_path: Path) -> AsyncEngine:
    """Dispose the engine and re-point the sessions at a file that cannot be opened."""
    await engine.dispose()
    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'ledger.db'}")
    sessions.configure(bind=broken)
    return broken


async def test_database_unavailable_answers_503_and_delivers_nothing(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    sessions: Sessions,
    deliverer: FakeDeliverer,
    tmp_path: Path,
) -> None:
    broken = await _break_database(engine, sessions, tmp_path)
    body = encode(callback())
    try:
        response = await client.post(URL, content=body, headers=signed(body))
    finally:
        await broken.dispose()

    assert response.status_code == 503
    assert response.json() == {"error": "cannot store event"}
    # Acknowledging a signal we could not store would lose the audit record.
    assert deliverer.events == []


async def test_healthz_reports_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "undelivered": 0,
        "oldest_undelivered_seconds": 0.0,
        "conflicts": 0,
    }


async def test_healthz_reports_database_unavailable(
    client: httpx.AsyncClient, engine: AsyncEngine, sessions: Sessions, tmp_path: Path
) -> None:
    broken = await _break_database(engine, sessions, tmp_path)
    try:
        response = await client.get("/healthz")
    finally:
        await broken.dispose()

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


async def test_logs_and_answers_never_carry_the_body_or_the_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, deliverer: FakeDeliverer
) -> None:
    caplog.set_level(logging.DEBUG)
    good = encode(callback(event_id="evt-good"))
    bad = encode(callback(event_id="evt-bad", status="XX000"))
    deliverer.unavailable = True

    answers = [
        await client.post(URL, content=good, headers=signed(good)),
        await client.post(URL, content=good, headers=signed(good, secret="forged")),
        await client.post(URL, content=bad, headers=signed(bad)),
    ]

    assert [a.status_code for a in answers] == [503, 401, 400]
    assert "evt-good" in caplog.text  # the event is logged, by id only
    for text in [caplog.text, *(a.text for a in answers)]:
        assert PHONE not in text
        assert SECRET not in text
        assert "1500.00" not in text


async def conflicts_kept(sessions: Sessions) -> list[WebhookEventConflict]:
    """Every conflicting copy kept for audit, oldest first."""
    async with sessions() as session:
        return list(
            await session.scalars(select(WebhookEventConflict).order_by(WebhookEventConflict.id))
        )


async def test_stored_event_carries_the_hash_of_its_body(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    body = encode(callback())

    await client.post(URL, content=body, headers=signed(body))

    [row] = await stored_rows(sessions)
    assert row.body_sha256 == hashlib.sha256(body).hexdigest()
    # Settled: nothing left for the redelivery loop.
    assert row.next_attempt_at is None


async def test_same_id_with_another_body_is_a_conflict_kept_for_audit(
    client: httpx.AsyncClient,
    sessions: Sessions,
    deliverer: FakeDeliverer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    original = encode(callback(status="MR101"))
    # Same event id, another outcome: a buggy or hostile sender, never a retry.
    other = encode(callback(status="ER102"))
    await client.post(URL, content=original, headers=signed(original))

    answer = await client.post(URL, content=other, headers=signed(other, timestamp=NOW + 5))

    assert answer.status_code == 409
    assert answer.json() == {"error": "conflicting event"}
    assert len(deliverer.events) == 1
    assert deliverer.events[0].provider_status == "MR101"
    [row] = await stored_rows(sessions)
    assert row.raw_body == original
    assert row.body_sha256 == hashlib.sha256(original).hexdigest()
    assert row.state == "delivered" and row.delivery_attempts == 1
    [conflict] = await conflicts_kept(sessions)
    assert (conflict.provider, conflict.event_id) == ("hub", "evt-0001")
    assert conflict.raw_body == other
    assert conflict.body_sha256 == hashlib.sha256(other).hexdigest()
    assert conflict.signature_timestamp == NOW + 5
    assert conflict.received_at is not None
    [line] = [r for r in caplog.records if "conflict" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert "evt-0001" in line.getMessage()
    assert PHONE not in caplog.text and "1500.00" not in caplog.text


async def test_a_conflicting_copy_sent_again_is_kept_once(
    client: httpx.AsyncClient, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    original = encode(callback())
    other = encode(callback(sendAmount="9500.00"))
    await client.post(URL, content=original, headers=signed(original))

    answers = [await client.post(URL, content=other, headers=signed(other)) for _ in range(3)]

    assert [a.status_code for a in answers] == [409] * 3
    assert len(await conflicts_kept(sessions)) == 1
    assert len(deliverer.events) == 1


async def test_conflict_with_an_undelivered_event_leaves_it_undelivered(
    client: httpx.AsyncClient, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    deliverer.unavailable = True
    original = encode(callback())
    other = encode(callback(reference="payout-OTHER"))
    await client.post(URL, content=original, headers=signed(original))
    deliverer.unavailable = False

    answer = await client.post(URL, content=other, headers=signed(other))

    assert answer.status_code == 409
    # The only delivery attempt is the original's, made before the conflict arrived.
    assert [e.reference for e in deliverer.events] == ["payout-ABC"]
    [row] = await stored_rows(sessions)
    assert (row.state, row.raw_body, row.reference) == ("received", original, "payout-ABC")


async def test_repeat_of_an_undelivered_event_delivers_the_stored_copy(
    client: httpx.AsyncClient,
    sessions: Sessions,
    deliverer: FakeDeliverer,
    providers: dict[str, ProviderSpec],
) -> None:
    deliverer.unavailable = True
    body = encode(callback())
    await client.post(URL, content=body, headers=signed(body))
    deliverer.unavailable = False
    stored = (await stored_rows(sessions))[0].raw_body
    parsed: list[bytes] = []
    parse_hub = providers["hub"].translate

    def recording_parser(raw: bytes) -> ProviderEvent:
        parsed.append(raw)
        return parse_hub(raw)

    providers["hub"] = dataclasses.replace(providers["hub"], translate=recording_parser)

    again = await client.post(URL, content=body, headers=signed(body, timestamp=NOW + 30))

    assert again.status_code == 200
    assert again.json() == {"status": "delivered"}
    # The request is parsed to learn its event id, then the stored copy is parsed afresh.
    assert parsed == [body, stored]
    assert deliverer.events[-1] == parse_hub(stored)


def _http_scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("relay", 80),
    }


async def test_client_disconnecting_mid_body_is_one_log_line(
    config: RelayConfig,
    sessions: Sessions,
    deliverer: FakeDeliverer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_relay_app(config, sessions, deliverer, clock=lambda: float(NOW))
    body = encode(callback())
    headers = [(key.lower().encode(), value.encode()) for key, value in signed(body).items()] + [
        (b"content-length", str(len(body)).encode())
    ]
    # Half the body, then the connection drops: what the ASGI server hands the app.
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": body[:40], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(_http_scope(headers), receive, send)

    relay_records = [r for r in caplog.records if r.name.startswith("payments_engine.relay")]
    assert [(r.levelno, r.getMessage()) for r in relay_records] == [
        (logging.WARNING, "webhook abandoned: provider=hub client disconnected mid-body")
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text
    assert await stored_rows(sessions) == []
    assert deliverer.events == []


async def test_client_disconnecting_mid_body_on_a_real_server(
    config: RelayConfig,
    sessions: Sessions,
    deliverer: FakeDeliverer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    app = create_relay_app(config, sessions, deliverer, clock=lambda: float(NOW))
    body = encode(callback())
    server = await start_server(app, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.server.port)
        head = [f"POST {URL} HTTP/1.1", "Host: relay", f"Content-Length: {len(body)}"]
        head += [f"{key}: {value}" for key, value in signed(body).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body[:40])
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        for _ in range(200):
            if "client disconnected" in caplog.text:
                break
            await asyncio.sleep(0.01)
    finally:
        await server.stop()

    abandoned = [r for r in caplog.records if "client disconnected" in r.getMessage()]
    assert len(abandoned) == 1 and abandoned[0].levelno == logging.WARNING
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text
    assert await stored_rows(sessions) == []


async def test_healthz_reports_the_undelivered_backlog_and_its_age(
    config: RelayConfig, sessions: Sessions, deliverer: FakeDeliverer
) -> None:
    clock = FakeClock()
    app = create_relay_app(config, sessions, deliverer, clock=clock)
    deliverer.unavailable = True
    first, second = encode(callback(event_id="evt-1")), encode(callback(event_id="evt-2"))
    conflicting = encode(callback(event_id="evt-1", status="ER102"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://relay"
    ) as http:
        await http.post(URL, content=first, headers=signed(first))
        clock.advance(10)
        await http.post(URL, content=second, headers=signed(second, timestamp=int(clock())))
        await http.post(
            URL, content=conflicting, headers=signed(conflicting, timestamp=int(clock()))
        )
        clock.advance(2.5)

        backlog = await http.get("/healthz")

        deliverer.unavailable = False
        await http.post(URL, content=first, headers=signed(first, timestamp=int(clock())))
        after_first = await http.get("/healthz")

    assert backlog.status_code == 200
    assert backlog.json() == {
        "status": "ok",
        "undelivered": 2,
        "oldest_undelivered_seconds": 12.5,
        "conflicts": 1,
    }
    assert after_first.json() == {
        "status": "ok",
        "undelivered": 1,
        "oldest_undelivered_seconds": 2.5,
        "conflicts": 1,
    }
