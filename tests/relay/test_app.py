"""The relay's HTTP contract: signature, parsing, storage, dedupe and delivery outcomes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.session import create_engine
from domain.events import ProviderEvent, TransferOutcome
from domain.webhooks import SIGNATURE_HEADER, compute_signature
from relay.app import create_relay_app
from relay.config import RelayConfig
from relay.delivery import DeliveryOutcome
from tests.relay.conftest import (
    NOW,
    PHONE,
    SECRET,
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
    assert response.json() == {"status": "ok"}


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
