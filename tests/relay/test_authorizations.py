"""``POST /authorizations/{provider}``: verify, ask the card, answer in time or stand in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payments_engine.domain.card import (
    STAND_IN_EVENT,
    AuthorizationDecision,
    AuthorizationRequest,
    DeclineReason,
    StandIn,
)
from payments_engine.domain.webhooks import STANDARD_WEBHOOKS
from payments_engine.relay.app import create_relay_app
from payments_engine.relay.authorizations import AuthorizationOutcome
from payments_engine.relay.config import RelayConfig
from tests.relay.conftest import NOW, FakeDeliverer, stored_rows

ISSUER_SECRET = STANDARD_WEBHOOKS.new_secret()


class FakeAuthorizer:
    """Answers what a test says, and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, AuthorizationRequest, float]] = []
        self.outcome = AuthorizationOutcome.ANSWERED
        self.approve = True

    async def authorize(
        self, reference: str, request: AuthorizationRequest, budget_seconds: float
    ) -> tuple[AuthorizationOutcome, AuthorizationDecision | None]:
        self.asked.append((reference, request, budget_seconds))
        if self.outcome is not AuthorizationOutcome.ANSWERED:
            return self.outcome, None
        if not self.approve:
            return self.outcome, AuthorizationDecision.decline(
                request, DeclineReason.INSUFFICIENT_FUNDS
            )
        return self.outcome, AuthorizationDecision(
            authorization_id=request.authorization_id,
            approved=True,
            approved_amount=request.amount.amount,
            currency=request.amount.currency,
        )


def request_body(**overrides: Any) -> bytes:
    payload: dict[str, Any] = {
        "type": "authorization.request",
        "authorization_id": "auth_0001",
        "card_token": "crd_1",
        "card_reference": "card-c1",
        "amount": 1500,
        "currency": "KES",
        "merchant": {"name": "Naivas", "mcc": "5411", "country": "KE"},
        "partial_allowed": False,
        "respond_by": datetime.fromtimestamp(NOW + 2, UTC).isoformat(),
        "created": datetime.fromtimestamp(NOW, UTC).isoformat(),
    }
    payload.update(overrides)
    return json.dumps(payload).encode()


def signed(body: bytes, msg_id: str = "auth_0001", secret: str = ISSUER_SECRET) -> dict[str, str]:
    return STANDARD_WEBHOOKS.sign(secret, msg_id=msg_id, timestamp=NOW, body=body)


@pytest.fixture
def authorizer() -> FakeAuthorizer:
    return FakeAuthorizer()


@pytest.fixture
async def relay(
    sessions: async_sessionmaker[AsyncSession],
    deliverer: FakeDeliverer,
    authorizer: FakeAuthorizer,
) -> AsyncIterator[httpx.AsyncClient]:
    config = RelayConfig(
        secrets={"issuer": SecretStr(ISSUER_SECRET)}, authorization_margin_seconds=0.3
    )
    app = create_relay_app(
        config, sessions, deliverer, clock=lambda: float(NOW), authorizer=authorizer
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
        yield http
    # No lifespan here: finish the stand-ins being stored before the database goes.
    if app.state.stand_ins:
        await asyncio.wait(app.state.stand_ins, timeout=10)


async def test_the_cards_answer_is_the_issuers_answer(
    relay: httpx.AsyncClient, authorizer: FakeAuthorizer
) -> None:
    body = request_body()
    response = await relay.post("/authorizations/issuer", content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json() == {
        "authorization_id": "auth_0001",
        "result": "APPROVED",
        "approved_amount": 1500,
        "decline_reason": None,
    }
    reference, asked, budget = authorizer.asked[0]
    assert reference == "card-c1"
    # The card is told the relay's own deadline: the issuer's less the margin.
    assert asked.respond_by == datetime.fromtimestamp(NOW + 1.7, UTC)
    assert budget == pytest.approx(1.7)


async def test_a_decline_carries_its_reason(
    relay: httpx.AsyncClient, authorizer: FakeAuthorizer
) -> None:
    authorizer.approve = False
    body = request_body()
    answer = (await relay.post("/authorizations/issuer", content=body, headers=signed(body))).json()
    assert answer["result"] == "DECLINED"
    assert answer["approved_amount"] == 0
    assert answer["decline_reason"] == "insufficient_funds"


async def test_no_answer_in_time_declines_and_records_a_stand_in(
    relay: httpx.AsyncClient,
    authorizer: FakeAuthorizer,
    deliverer: FakeDeliverer,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    authorizer.outcome = AuthorizationOutcome.UNAVAILABLE
    body = request_body()
    answer = (await relay.post("/authorizations/issuer", content=body, headers=signed(body))).json()
    assert answer["result"] == "DECLINED"
    assert answer["decline_reason"] == "issuer_timeout"
    for _ in range(100):
        if deliverer.events:
            break
        await asyncio.sleep(0.05)
    [event] = deliverer.events
    assert event.provider_status == STAND_IN_EVENT
    assert event.reference == "card-c1"
    assert event.provider_transaction_id == "auth_0001"
    rows = await stored_rows(sessions)
    assert [(row.provider, row.event_id) for row in rows] == [("issuer", "stand-in:auth_0001")]


async def test_a_deadline_already_past_stands_in_without_asking(
    relay: httpx.AsyncClient, authorizer: FakeAuthorizer
) -> None:
    body = request_body(respond_by=datetime.fromtimestamp(NOW + 0.1, UTC).isoformat())
    answer = (await relay.post("/authorizations/issuer", content=body, headers=signed(body))).json()
    assert answer["decline_reason"] == "issuer_timeout"
    assert authorizer.asked == []


async def test_an_unknown_card_is_declined_as_inactive(
    relay: httpx.AsyncClient, authorizer: FakeAuthorizer, deliverer: FakeDeliverer
) -> None:
    authorizer.outcome = AuthorizationOutcome.NO_CARD
    body = request_body()
    answer = (await relay.post("/authorizations/issuer", content=body, headers=signed(body))).json()
    assert answer["decline_reason"] == "card_inactive"
    await asyncio.sleep(0.1)
    assert deliverer.events == []


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ("forged", request_body(), 401),
        ("none", request_body(), 401),
        ("ok", b"{not json", 400),
        ("ok", request_body(amount=0), 400),
        ("ok", request_body(currency="XXX"), 400),
        ("ok", request_body(merchant={"name": "x", "mcc": "54", "country": "KE"}), 400),
    ],
)
async def test_bad_requests_are_refused_before_the_card_is_asked(
    relay: httpx.AsyncClient,
    authorizer: FakeAuthorizer,
    headers: str,
    body: bytes,
    status: int,
) -> None:
    sent = {
        "ok": signed(body),
        "forged": signed(body, secret=STANDARD_WEBHOOKS.new_secret()),
        "none": {},
    }[headers]
    response = await relay.post("/authorizations/issuer", content=body, headers=sent)
    assert response.status_code == status
    assert authorizer.asked == []


async def test_a_provider_without_authorizations_is_not_served(relay: httpx.AsyncClient) -> None:
    body = request_body()
    response = await relay.post("/authorizations/hub", content=body, headers=signed(body))
    assert response.status_code == 404


async def test_a_stand_in_cannot_come_in_as_a_webhook(
    relay: httpx.AsyncClient, deliverer: FakeDeliverer
) -> None:
    body = StandIn(card_reference="card-c1", authorization_id="auth_9").model_dump_json().encode()
    response = await relay.post(
        "/webhooks/issuer", content=body, headers=signed(body, msg_id="stand-in:auth_9")
    )
    assert response.status_code == 400
    assert deliverer.events == []
