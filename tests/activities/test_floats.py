"""The float readers of the hub and MoMo, and the float activities.

The readers run against ``httpx.MockTransport`` (the answers a real provider may give)
and against the sandbox's simulators over ``httpx.ASGITransport`` (the wire shapes as
the sandbox serves them, and the admin route that sets a float); the alert against a
mock hook and the sandbox's merchant recorder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from payments_engine.activities.floats import FloatActivities
from payments_engine.activities.providers.base import (
    FloatProvider,
    ProviderFault,
    ProviderNotSupported,
    Refused,
    Transient,
)
from payments_engine.activities.providers.hub.floats import HubFloats
from payments_engine.activities.providers.momo.floats import MomoFloats
from payments_engine.activities.providers.momo.settings import MomoSettings
from payments_engine.activities.providers.registry import PROVIDERS, float_spec
from payments_engine.domain.errors import ProviderAuthError, ProviderRejected
from payments_engine.domain.floats import FloatAlert, FloatInput
from payments_engine.sandbox.common.config import DEFAULT_FLOAT_CURRENCIES, DEFAULT_FLOAT_MINOR
from tests.sandbox.merchant.support import running_merchant
from tests.sandbox.momo.support import MOMO_HEADERS, running_momo
from tests.sandbox.support import API_KEY, SANDBOX_URL, running_sandbox

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, base_url: str = "http://provider.test") -> httpx.AsyncClient:
    """A client whose every request is answered by ``handler``."""
    return httpx.AsyncClient(base_url=base_url, transport=httpx.MockTransport(handler))


def answering(status: int, body: object = None) -> Handler:
    """A handler answering every request with ``status`` and a JSON ``body``."""
    return lambda _: httpx.Response(status, json=body if body is not None else {})


def unreachable(request: httpx.Request) -> httpx.Response:
    """A handler that never connects."""
    raise httpx.ConnectError("connection refused", request=request)


# -- registry ----------------------------------------------------------------------------


def test_the_hub_and_momo_state_their_float() -> None:
    assert float_spec("hub").floats is HubFloats
    assert float_spec("momo").floats is MomoFloats
    with pytest.raises(ProviderNotSupported, match="does not state its float"):
        float_spec("oxxo")
    with pytest.raises(ProviderNotSupported, match="known: hub, momo"):
        float_spec("mpesa")
    assert {name for name, spec in PROVIDERS.items() if spec.floats} == {"hub", "momo"}


# -- the hub -------------------------------------------------------------------------------


async def test_hub_float_in_minor_units_by_currency_exponent() -> None:
    seen: list[httpx.Request] = []

    def hub(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        balances = [
            {"currency": "KES", "available": "1500.50"},
            {"currency": "UGX", "available": "250000"},
            {"currency": "XAU", "available": "3.000"},  # not a currency the engine pays in
            {"currency": "GHS", "available": "-12.05"},  # overdrawn
        ]
        return httpx.Response(200, json={"balances": balances})

    async with client(hub) as http:
        floats: FloatProvider = HubFloats(http)
        assert await floats.get_float() == {"KES": 150050, "UGX": 250000, "GHS": -1205}
    assert seen[0].method == "GET" and seen[0].url.path == "/v1/balance"


@pytest.mark.parametrize(
    ("handler", "fault"),
    [
        (answering(503), Transient),
        (answering(429), Transient),
        (answering(404), Transient),
        (unreachable, Transient),
        (answering(200, {"balances": [{"currency": "KES", "available": "1.005"}]}), Transient),
        (answering(200, {"float": "lots"}), Transient),
        (answering(401), Refused),
    ],
    ids=["5xx", "throttled", "404", "unreachable", "too-many-decimals", "not-its-shape", "401"],
)
async def test_hub_float_faults(handler: Handler, fault: type[ProviderFault]) -> None:
    async with client(handler) as http:
        with pytest.raises(fault) as raised:
            await HubFloats(http).get_float()
    if isinstance(raised.value, Refused):
        assert raised.value.error is ProviderAuthError


# -- MoMo ----------------------------------------------------------------------------------


async def test_momo_float_of_the_accounts_one_currency() -> None:
    seen: list[httpx.Request] = []

    def momo(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"availableBalance": "1000000", "currency": "UGX"})

    async with client(momo) as http:
        assert await MomoFloats(http, MomoSettings()).get_float() == {"UGX": 1000000}
    [request] = seen
    assert request.url.path == "/disbursement/v1_0/account/balance"
    assert "currency" not in request.url.params


async def test_momo_float_per_configured_currency() -> None:
    answers = {"KES": "10.00", "UGX": "700"}

    def momo(request: httpx.Request) -> httpx.Response:
        currency = request.url.params["currency"]
        return httpx.Response(
            200, json={"availableBalance": answers[currency], "currency": currency}
        )

    settings = MomoSettings(float_currencies="kes, UGX")  # type: ignore[arg-type]
    async with client(momo) as http:
        assert await MomoFloats(http, settings).get_float() == {"KES": 1000, "UGX": 700}


@pytest.mark.parametrize(
    ("handler", "fault"),
    [
        (answering(500), Transient),
        (unreachable, Transient),
        (answering(200, {"availableBalance": "1e3", "currency": "KES"}), Transient),
        (answering(400, {"code": "INVALID_PARAMETER"}), Refused),
        (answering(401), Refused),
    ],
    ids=["5xx", "unreachable", "unreadable", "400", "401"],
)
async def test_momo_float_faults(handler: Handler, fault: type[ProviderFault]) -> None:
    async with client(handler) as http:
        with pytest.raises(fault) as raised:
            await MomoFloats(http).get_float()
    if isinstance(raised.value, Refused) and "400" in str(raised.value):
        assert raised.value.error is ProviderRejected
        assert "PAYMENTS_MOMO_FLOAT_CURRENCIES" in str(raised.value)


# -- against the sandbox -----------------------------------------------------------------


async def test_hub_float_against_the_sandbox_and_its_admin_route() -> None:
    async with running_sandbox() as sandbox:
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sandbox.app),
            base_url=f"{SANDBOX_URL}/hub",
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        async with http:
            floats = HubFloats(http)
            assert await floats.get_float() == dict.fromkeys(
                sorted(DEFAULT_FLOAT_CURRENCIES), DEFAULT_FLOAT_MINOR
            )
            response = await sandbox.admin.put(
                "/admin/float", json={"currency": "KES", "amount": 12345}
            )
            assert response.status_code == 200, response.text
            assert (await floats.get_float())["KES"] == 12345
            await sandbox.admin.put("/admin/faults", json={"error_rate": 1.0})
            with pytest.raises(Transient):
                await floats.get_float()


async def test_momo_float_against_the_sandbox() -> None:
    async with running_momo(float_balances={"KES": 100}) as momo:
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=momo.app),
            base_url=f"{SANDBOX_URL}/momo",
            headers=MOMO_HEADERS,
        )
        async with http:
            assert await MomoFloats(http).get_float() == {"KES": 100}
            await momo.admin.put("/admin/momo/float", json={"currency": "UGX", "amount": 5})
            # Two currencies now: the account's one currency is no longer a question.
            with pytest.raises(Refused):
                await MomoFloats(http).get_float()
            settings = MomoSettings(float_currencies=["KES", "UGX"])
            assert await MomoFloats(http, settings).get_float() == {"KES": 100, "UGX": 5}


# -- the activities ----------------------------------------------------------------------


class Scripted:
    """A float reader answering what it is told, or raising it."""

    def __init__(self, answer: dict[str, int] | ProviderFault) -> None:
        self.answer = answer

    async def get_float(self) -> dict[str, int]:
        if isinstance(self.answer, ProviderFault):
            raise self.answer
        return self.answer


ALERT = FloatAlert(
    key="float-hub-KES-2026-11-25T06", provider="hub", currency="KES", balance=150, threshold=10000
)


async def test_get_float_reads_the_providers_reader() -> None:
    activities = FloatActivities({"hub": Scripted({"UGX": 5, "KES": 150})})
    before = datetime.now(UTC)
    read = await ActivityEnvironment().run(activities.get_float, FloatInput(provider="hub"))
    assert read.provider == "hub" and read.balances == {"KES": 150, "UGX": 5}
    assert list(read.balances) == ["KES", "UGX"] and read.at >= before


async def test_get_float_not_configured_is_final() -> None:
    activities = FloatActivities({})
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.get_float, FloatInput(provider="momo"))
    assert raised.value.type == "ProviderNotConfigured" and raised.value.non_retryable


@pytest.mark.parametrize(
    ("fault", "final", "error_type"),
    [
        (Transient("hub answered HTTP 503"), False, "ProviderUnavailable"),
        (Refused(ProviderAuthError, "hub refused (401)"), True, "ProviderAuthError"),
    ],
    ids=["transient", "refused"],
)
async def test_get_float_faults(fault: ProviderFault, final: bool, error_type: str) -> None:
    activities = FloatActivities({"hub": Scripted(fault)})
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.get_float, FloatInput(provider="hub"))
    assert raised.value.non_retryable is final and raised.value.type == error_type


async def test_the_alert_carries_its_key_and_the_figures() -> None:
    calls: list[httpx.Request] = []

    def hook(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"idempotency_key": request.headers["idempotency-key"]})

    async with client(hook, "http://merchant.test") as hooks:
        activities = FloatActivities({}, hooks)
        assert await ActivityEnvironment().run(activities.alert_low_float, ALERT) is True
    [call] = calls
    assert call.method == "POST" and call.url.path == "/v1/alerts"
    assert call.headers["idempotency-key"] == ALERT.key
    body = json.loads(call.content)
    assert body["kind"] == "low_float"
    assert body["subject"] == "low float hub KES"
    assert "1.50 KES" in body["message"] and "100.00 KES" in body["message"]
    assert body["details"] == ALERT.model_dump(mode="json")


@pytest.mark.parametrize(
    ("handler", "final"),
    [(answering(400), True), (answering(403), True), (answering(503), False), (unreachable, False)],
    ids=["400", "403", "503", "unreachable"],
)
async def test_the_alert_hook_refusing_is_final_and_down_is_retried(
    handler: Handler, final: bool
) -> None:
    async with client(handler, "http://merchant.test") as hooks:
        activities = FloatActivities({}, hooks)
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(activities.alert_low_float, ALERT)
    assert raised.value.non_retryable is final


async def test_no_hook_no_alert() -> None:
    activities = FloatActivities({})
    assert await ActivityEnvironment().run(activities.alert_low_float, ALERT) is False


async def test_the_merchant_recorder_takes_the_alert_once_per_key() -> None:
    async with running_merchant() as merchant:
        hooks = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=merchant.app), base_url=f"{SANDBOX_URL}/merchant"
        )
        async with hooks:
            activities = FloatActivities({}, hooks)
            environment = ActivityEnvironment()
            assert await environment.run(activities.alert_low_float, ALERT) is True
            assert await environment.run(activities.alert_low_float, ALERT) is True
        [alert] = await merchant.alerts()
    assert alert["idempotency_key"] == ALERT.key and alert["calls"] == 2
    assert alert["kind"] == "low_float" and alert["details"]["currency"] == "KES"
