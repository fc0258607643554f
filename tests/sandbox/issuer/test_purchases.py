"""The network's authorization request: approvals, declines, late and bad answers, retries."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS, SignatureError
from tests.sandbox.issuer.support import (
    AUTHORIZATION_URL,
    ISSUER_SECRET,
    EngineDouble,
    Issuer,
    answer_for,
    decline,
    running_issuer,
    verify,
)

OUTCOME_FIELDS = {
    "authorization_id",
    "card_token",
    "card_reference",
    "amount",
    "currency",
    "result",
    "approved_amount",
    "decline_reason",
    "answered_by",
    "latency_ms",
}


async def test_an_approved_purchase_asks_the_engine_with_a_signed_request(issuer: Issuer) -> None:
    card = await issuer.card()
    outcome = await issuer.purchase("card-abc", 1500, merchant_name="Naivas")
    assert set(outcome) == OUTCOME_FIELDS
    assert outcome["authorization_id"].startswith("auth_")
    assert (outcome["card_token"], outcome["card_reference"]) == (card["token"], "card-abc")
    assert (outcome["result"], outcome["approved_amount"], outcome["decline_reason"]) == (
        "APPROVED",
        1500,
        None,
    )
    assert outcome["answered_by"] == "engine"
    assert outcome["latency_ms"] > 0

    (request,) = issuer.engine.authorizations
    assert str(request.url) == AUTHORIZATION_URL
    verify(request)
    assert request.headers["webhook-id"] == outcome["authorization_id"]
    with pytest.raises(SignatureError):
        STANDARD_WEBHOOKS.verify(
            ISSUER_SECRET, request.headers, request.content.replace(b"1500", b"9"), now=time.time()
        )
    body = json.loads(request.content)
    assert body == {
        "type": "authorization.request",
        "authorization_id": outcome["authorization_id"],
        "card_token": card["token"],
        "card_reference": "card-abc",
        "amount": 1500,
        "currency": "KES",
        "merchant": {"name": "Naivas", "mcc": "5411", "country": "KE"},
        "partial_allowed": False,
        "respond_by": body["respond_by"],
        "created": body["created"],
    }
    created = datetime.fromisoformat(body["created"])
    respond_by = datetime.fromisoformat(body["respond_by"])
    assert respond_by - created == timedelta(seconds=issuer.config.authorization_deadline_seconds)
    # No PAN, no CVV: the engine sees the card's token and our reference only.
    stored = issuer.state.store.cards.get(card["token"])
    assert stored is not None and stored.pan not in request.content.decode()

    (listed,) = await issuer.admin_get("/authorizations")
    assert {key: listed[key] for key in OUTCOME_FIELDS} == outcome
    assert (listed["held"], listed["captured"], len(listed["decisions"])) == (1500, 0, 1)


async def test_the_card_is_found_by_token_reference_or_id(issuer: Issuer) -> None:
    card = await issuer.card("card-xyz")
    for name in (card["token"], "card-xyz", "xyz"):
        assert (await issuer.purchase(name))["card_token"] == card["token"]
    unknown = await issuer.admin.post(
        "/admin/issuer/purchases", json={"card": "card-nope", "amount": 100}
    )
    assert unknown.status_code == 404
    assert len(issuer.engine.authorizations) == 3


async def test_a_declined_purchase_is_the_engines_decline() -> None:
    async with running_issuer(EngineDouble(answer=decline)) as issuer:
        await issuer.card()
        outcome = await issuer.purchase("card-abc", 1500)
    assert (outcome["result"], outcome["approved_amount"]) == ("DECLINED", 0)
    assert (outcome["decline_reason"], outcome["answered_by"]) == ("insufficient_funds", "engine")


async def test_a_partial_approval_when_the_merchant_allows_it() -> None:
    def half(body: dict[str, Any]) -> httpx.Response:
        return answer_for(body, "APPROVED", body["amount"] // 2)

    async with running_issuer(EngineDouble(answer=half)) as issuer:
        await issuer.card()
        partial = await issuer.purchase("card-abc", 1500, partial_allowed=True)
        refused = await issuer.purchase("card-abc", 1500)
        asked = [json.loads(r.content)["partial_allowed"] for r in issuer.engine.authorizations]
    assert (partial["result"], partial["approved_amount"], partial["answered_by"]) == (
        "APPROVED",
        750,
        "engine",
    )
    assert asked == [True, False]
    # A partial approval the merchant does not take is a bad answer.
    assert (refused["result"], refused["decline_reason"], refused["answered_by"]) == (
        "DECLINED",
        "issuer_error",
        "network",
    )


async def test_a_late_answer_is_declined_by_the_network() -> None:
    async with running_issuer(EngineDouble(delay=5.0)) as issuer:
        await issuer.card()
        started = time.perf_counter()
        outcome = await issuer.purchase("card-abc", 1500, deadline_seconds=0.3)
        waited = time.perf_counter() - started
    assert (outcome["result"], outcome["approved_amount"]) == ("DECLINED", 0)
    assert (outcome["decline_reason"], outcome["answered_by"]) == ("issuer_timeout", "network")
    assert outcome["latency_ms"] >= 300
    assert waited < 5.0  # the network gave up at its deadline, not at the engine's answer


async def test_an_answer_that_blocks_past_the_deadline_is_late_even_if_approved() -> None:
    def blocking(body: dict[str, Any]) -> httpx.Response:
        # Blocks the loop: the answer arrives before the timeout can fire, but too late.
        time.sleep(0.15)
        return answer_for(body, "APPROVED", body["amount"])

    async with running_issuer(EngineDouble(answer=blocking)) as issuer:
        await issuer.card()
        outcome = await issuer.purchase("card-abc", 1500, deadline_seconds=0.05)
        (record,) = await issuer.admin_get("/authorizations")
    assert (outcome["result"], outcome["decline_reason"]) == ("DECLINED", "issuer_timeout")
    assert outcome["answered_by"] == "network"
    assert record["decisions"][0]["detail"]


def _bad(kind: str) -> Any:
    def answer(body: dict[str, Any]) -> httpx.Response:
        match kind:
            case "http_500":
                return httpx.Response(500, json={"error": "boom"})
            case "not_json":
                return httpx.Response(200, content=b"<html>oops</html>")
            case "other_id":
                return answer_for({**body, "authorization_id": "auth_other"}, "APPROVED", 1)
            case "above_amount":
                return answer_for(body, "APPROVED", body["amount"] + 1)
            case "no_result":
                return httpx.Response(200, json={"authorization_id": body["authorization_id"]})
            case "float_amount":
                return answer_for(body, "APPROVED", float(body["amount"]))  # type: ignore[arg-type]
        raise AssertionError(kind)

    return answer


@pytest.mark.parametrize(
    "kind", ["http_500", "not_json", "other_id", "above_amount", "no_result", "float_amount"]
)
async def test_a_bad_answer_is_declined_by_the_network(kind: str) -> None:
    async with running_issuer(EngineDouble(answer=_bad(kind))) as issuer:
        await issuer.card()
        outcome = await issuer.purchase("card-abc", 1500, partial_allowed=True)
    assert (outcome["result"], outcome["approved_amount"]) == ("DECLINED", 0)
    assert (outcome["decline_reason"], outcome["answered_by"]) == ("issuer_error", "network")


async def test_the_network_answers_alone_for_closed_cards_and_without_a_url(
    issuer: Issuer,
) -> None:
    card = await issuer.card()
    await issuer.client.post(f"/issuer/v1/cards/{card['token']}/close")
    closed = await issuer.purchase("card-abc")
    assert (closed["result"], closed["decline_reason"], closed["answered_by"]) == (
        "DECLINED",
        "card_closed",
        "network",
    )
    assert issuer.engine.authorizations == []

    async with running_issuer(authorization_url=None) as alone:
        await alone.card()
        outcome = await alone.purchase("card-abc")
        assert alone.engine.authorizations == []
        recorded = await alone.admin_get("/authorizations")
    assert (outcome["decline_reason"], outcome["answered_by"]) == ("issuer_timeout", "network")
    assert len(recorded) == 1  # declined by the network, recorded all the same


async def test_a_retry_sends_the_same_request_and_keeps_every_answer() -> None:
    engine = EngineDouble(delay=5.0)
    async with running_issuer(engine) as issuer:
        await issuer.card()
        first = await issuer.purchase(
            "card-abc", 1500, merchant_name="Naivas", deadline_seconds=0.2
        )
        assert first["decline_reason"] == "issuer_timeout"
        engine.delay = 0.0
        retry = await issuer.purchase(
            "card-abc", 99, authorization_id=first["authorization_id"], merchant_name="Other"
        )
        record = await issuer.admin_get(f"/authorizations/{first['authorization_id']}")
        unknown = await issuer.admin.post(
            "/admin/issuer/purchases",
            json={"card": "card-abc", "amount": 1, "authorization_id": "auth_nope"},
        )
    assert retry["authorization_id"] == first["authorization_id"]
    assert (retry["result"], retry["amount"], retry["approved_amount"]) == ("APPROVED", 1500, 1500)
    first_body, retry_body = (json.loads(r.content) for r in engine.authorizations)
    for key in ("authorization_id", "amount", "merchant", "card_token", "partial_allowed"):
        assert first_body[key] == retry_body[key]
    assert [d["answered_by"] for d in record["decisions"]] == ["network", "engine"]
    assert (record["result"], record["held"]) == ("APPROVED", 1500)
    assert unknown.status_code == 404
