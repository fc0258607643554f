"""``payments sandbox purchase`` and the card issuer in ``payments sandbox``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from payments_engine.activities.providers.base import ProviderSettings
from payments_engine.domain.errors import InvalidAmount
from payments_engine.runtime.settings import load_settings
from payments_engine.sandbox import __main__ as sandbox_main
from payments_engine.sandbox.issuer.cli import (
    SandboxFailed,
    in_card_currency,
    parse_purchase_args,
    percentile,
    run_purchase,
)
from tests.sandbox.issuer.support import ISSUER_SECRET, EngineDouble, Issuer, running_issuer
from tests.sandbox.support import SANDBOX_URL

PURCHASE = ["card-abc", "--amount", "15.00", "--currency", "KES", "--mcc", "5411"]
PURCHASE += ["--country", "KE"]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"--amount": "15.001"}, "decimal places"),
        ({"--amount": "1e3"}, "exponent"),
        ({"--amount": "0"}, "greater than zero"),
        ({"--currency": "XYZ"}, "not a currency"),
        ({"--mcc": "54"}, "--mcc"),
        ({"--country": "KEN"}, "--country"),
        ({"--count": "0"}, "--count"),
        ({"--count": "5", "--concurrency": "0"}, "--concurrency"),
        ({"--count": "many"}, "invalid int"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    change: dict[str, str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = list(PURCHASE)
    for option, value in change.items():
        if option in argv:
            argv[argv.index(option) + 1] = value
        else:
            argv += [option, value]
    with pytest.raises(SystemExit) as info:
        parse_purchase_args(argv, SANDBOX_URL)
    assert info.value.code == 2
    assert complaint in capsys.readouterr().err


def test_a_missing_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_purchase_args(["card-abc"], SANDBOX_URL)
    assert info.value.code == 2
    assert "--amount" in capsys.readouterr().err


async def test_without_a_currency_the_amount_is_in_the_cards() -> None:
    command = parse_purchase_args(["cd-1", "--amount", "1.50"], SANDBOX_URL)
    assert command.body["currency"] is None
    assert (command.body["mcc"], command.body["country"]) == ("5411", "KE")
    cards = [
        {"token": "crd_1", "reference": "card-cd-1", "currency": "KES"},
        {"token": "crd_2", "reference": "card-ug", "currency": "UGX"},
    ]
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=cards))
    async with httpx.AsyncClient(transport=transport) as client:
        resolved = await in_card_currency(client, command)
        assert (resolved.body["amount"], resolved.body["currency"]) == (150, "KES")
        ugx = parse_purchase_args(["ug", "--amount", "1.50"], SANDBOX_URL)
        with pytest.raises(InvalidAmount):
            await in_card_currency(client, ugx)
        with pytest.raises(SandboxFailed):
            await in_card_currency(
                client, parse_purchase_args(["nope", "--amount", "1"], SANDBOX_URL)
            )


def test_the_request_body_in_minor_units() -> None:
    command = parse_purchase_args(
        [*PURCHASE, "--merchant", "Naivas", "--partial", "--authorization-id", "auth_1"],
        "http://127.0.0.1:1/",
    )
    assert command.url == "http://127.0.0.1:1/admin/issuer/purchases"
    assert command.body == {
        "card": "card-abc",
        "amount": 1500,
        "currency": "KES",
        "mcc": "5411",
        "country": "KE",
        "partial_allowed": True,
        "merchant_name": "Naivas",
        "authorization_id": "auth_1",
    }
    assert (command.count, command.json) == (None, False)


def test_percentiles_by_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([7.0], 99) == 7.0


async def _run(issuer: Issuer, *extra: str) -> int:
    command = parse_purchase_args([*PURCHASE, *extra], SANDBOX_URL)
    return await run_purchase(command, transport=httpx.ASGITransport(app=issuer.app))


async def test_one_purchase_prints_one_line_or_the_json(
    issuer: Issuer, capsys: pytest.CaptureFixture[str]
) -> None:
    await issuer.card()
    assert await _run(issuer) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("auth_") and " APPROVED 15.00 KES by engine in " in line
    assert line.endswith(" ms")

    assert await _run(issuer, "--json") == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["result"], outcome["amount"], outcome["answered_by"]) == (
        "APPROVED",
        1500,
        "engine",
    )

    await issuer.client.post(f"/issuer/v1/cards/{outcome['card_token']}/close")
    assert await _run(issuer) == 0
    assert " DECLINED (card_closed) 15.00 KES by network in " in capsys.readouterr().out


async def test_errors_of_the_sandbox_exit_1(
    issuer: Issuer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(issuer) == 1  # no such card: a 404
    assert "404" in capsys.readouterr().err

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    command = parse_purchase_args(PURCHASE, SANDBOX_URL)
    assert await run_purchase(command, transport=httpx.MockTransport(refuse)) == 1
    assert "cannot reach the sandbox" in capsys.readouterr().err


async def test_a_load_run_counts_outcomes_and_latency(capsys: pytest.CaptureFixture[str]) -> None:
    answers = iter(range(1000))

    def every_third_declined(body: dict[str, Any]) -> httpx.Response:
        declined = next(answers) % 3 == 2
        return httpx.Response(
            200,
            json={
                "authorization_id": body["authorization_id"],
                "result": "DECLINED" if declined else "APPROVED",
                "approved_amount": 0 if declined else body["amount"],
                "decline_reason": "insufficient_funds" if declined else None,
            },
        )

    async with running_issuer(EngineDouble(answer=every_third_declined)) as issuer:
        await issuer.card()
        assert await _run(issuer, "--count", "30", "--concurrency", "4") == 0
        text = capsys.readouterr().out
        assert await _run(issuer, "--count", "6", "--json") == 0
        summary = json.loads(capsys.readouterr().out)
        assert len(await issuer.admin_get("/authorizations")) == 36
    assert "30 purchases, 4 in flight at most: 30 decided" in text
    assert "APPROVED by engine: 20" in text and "DECLINED by engine: 10" in text
    assert "decisions/s" in text and "p50" in text and "p99" in text and "max" in text
    assert (summary["count"], summary["decided"], summary["errors"]) == (6, 6, 0)
    assert sum(summary["outcomes"].values()) == 6
    latency = summary["latency_ms"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]


# -- payments sandbox: the issuer is mounted when its settings are there -----------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[FastAPI]:
    """The apps main() would serve, instead of serving them."""
    apps: list[FastAPI] = []

    def run(app: FastAPI, **_: Any) -> None:
        apps.append(app)

    monkeypatch.setattr(sandbox_main, "serve", run)
    for provider in ("MOMO", "ISSUER"):
        for name in (f"PAYMENTS_{provider}_API_KEY", f"PAYMENTS_{provider}_WEBHOOK_SECRET"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYMENTS_HUB_API_KEY", "hub-key")
    monkeypatch.setenv("PAYMENTS_HUB_WEBHOOK_SECRET", "hub-secret")
    monkeypatch.setenv("PAYMENTS_RELAY_PORT", "8399")
    monkeypatch.delenv("PAYMENTS_AUTHORIZATION_DEFAULT_DEADLINE_MS", raising=False)
    return apps


def _with_issuer(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    # Until the engine registers the issuer, its settings come from no variable: add them.
    def settings() -> Any:
        loaded = load_settings()
        loaded.providers["issuer"] = ProviderSettings.model_construct(
            api_key=SecretStr("issuer-key"), webhook_secret=SecretStr(secret)
        )
        return loaded

    monkeypatch.setattr(sandbox_main, "load_settings", settings)


def _close(app: FastAPI) -> None:
    for state in (app.state.sandbox, app.state.momo, app.state.issuer):
        if state is not None:
            state.store.close()


def test_no_issuer_without_its_settings(served: list[FastAPI]) -> None:
    sandbox_main.main([])
    (app,) = served
    assert app.state.issuer is None
    _close(app)


def test_the_issuer_is_mounted_with_its_settings(
    served: list[FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_issuer(monkeypatch, ISSUER_SECRET)
    sandbox_main.main(["--authorization-deadline-seconds", "0.5"])
    (app,) = served
    config = app.state.issuer.config
    assert (config.api_key, config.webhook_secret) == ("issuer-key", ISSUER_SECRET)
    assert config.webhook_url == "http://127.0.0.1:8399/webhooks/issuer"
    assert config.authorization_url == "http://127.0.0.1:8399/authorizations/issuer"
    assert config.authorization_deadline_seconds == 0.5
    _close(app)

    served.clear()
    sandbox_main.main(["--issuer-webhook-url", "none", "--issuer-authorization-url", "NONE"])
    config = served[0].state.issuer.config
    assert (config.webhook_url, config.authorization_url) == (None, None)
    # The relay's default deadline (PAYMENTS_AUTHORIZATION_DEFAULT_DEADLINE_MS, 2 s).
    assert config.authorization_deadline_seconds == 2.0
    _close(served[0])


def test_the_issuer_variables_mount_it(
    served: list[FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_ISSUER_API_KEY", "issuer-env-key")
    monkeypatch.setenv("PAYMENTS_ISSUER_WEBHOOK_SECRET", ISSUER_SECRET)
    sandbox_main.main([])
    (app,) = served
    assert app.state.issuer.config.api_key == "issuer-env-key"
    _close(app)


def test_a_bad_issuer_secret_stops_with_a_message_not_the_secret(
    served: list[FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_issuer(monkeypatch, "not!base64")
    with pytest.raises(SystemExit, match="invalid card issuer settings") as info:
        sandbox_main.main([])
    assert "not!base64" not in str(info.value)
    assert served == []


def test_the_purchase_subcommand_exits_2_on_bad_arguments(
    served: list[FastAPI], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        sandbox_main.main(["purchase", "card-abc", "--amount", "abc"])
    assert info.value.code == 2
    assert "payments sandbox purchase" in capsys.readouterr().err
    assert served == []
