"""``payments sandbox pay-voucher`` and the cash networks in ``payments sandbox``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from payments_engine.runtime.settings import load_settings
from payments_engine.sandbox import __main__ as sandbox_main
from payments_engine.sandbox.cash.cli import pay_voucher
from payments_engine.sandbox.cash.scenarios import markdown_table
from payments_engine.sandbox.cash.startup import DEV_CONFIRMATION_SECONDS, stack_configs
from tests.sandbox.cash.support import OXXO_SECRET, CashSandbox, efecty_config
from tests.sandbox.support import SANDBOX_URL


async def _pay(
    cash: CashSandbox, reference: str, capsys: pytest.CaptureFixture[str], *extra: Any
) -> tuple[int, str, str]:
    transport = httpx.ASGITransport(app=cash.app)
    status = await pay_voucher(reference, SANDBOX_URL, transport=transport, **dict(extra))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


async def test_each_network_takes_its_own_vouchers(
    cash: CashSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    efecty = await cash.efecty.issue("cash-order-e")
    oxxo = await cash.oxxo.issue("cash-order-o")
    code = str(efecty["transactionResponse"]["extraParameters"]["REFERENCE"])
    number = oxxo["next_action"]["oxxo_display_details"]["number"]

    status, out, _ = await _pay(cash, code, capsys)
    assert status == 0
    assert out.startswith(f"efecty took voucher {code} (cash-order-e): 120000 COP paid at ")
    assert "confirmation due at" in out
    status, out, _ = await _pay(cash, number, capsys)
    assert status == 0 and out.startswith(f"oxxo took voucher {number} (cash-order-o)")

    # Paid already: refused, with the reason.
    status, _, err = await _pay(cash, number, capsys)
    assert status == 1 and "oxxo refused the payment" in err
    # Nobody's voucher.
    status, _, err = await _pay(cash, "123", capsys)
    assert status == 1 and "no cash network (efecty, oxxo)" in err


async def test_a_late_payment_says_so_and_json_prints_the_voucher(
    cash: CashSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    await cash.oxxo.issue("cash-order-o")
    await cash.oxxo.wait_for_state("cash-order-o", "EXPIRED")
    status, out, _ = await _pay(cash, "cash-order-o", capsys)
    assert status == 0 and "(late: the voucher is EXPIRED" in out
    await cash.efecty.issue("cash-order-e")
    status, out, _ = await _pay(cash, "cash-order-e", capsys, ("as_json", True))
    assert status == 0 and json.loads(out)["reference"] == "cash-order-e"


async def test_an_unreachable_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    status = await pay_voucher("123", SANDBOX_URL, transport=httpx.MockTransport(refuse))
    assert status == 1 and "cannot reach the sandbox" in capsys.readouterr().err


def test_the_command_is_dispatched_from_payments_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[list[str], str]] = []

    def run(argv: list[str], url: str, prog: str = "") -> int:
        seen.append((list(argv), url))
        return 3

    monkeypatch.setattr(sandbox_main.pay_voucher_cli, "main", run)
    with pytest.raises(SystemExit) as info:
        sandbox_main.main(["pay-voucher", "123", "--network", "oxxo"])
    assert info.value.code == 3
    assert seen == [(["123", "--network", "oxxo"], load_settings().sandbox_url)]


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from payments_engine.sandbox.cash import cli

    with pytest.raises(SystemExit) as info:
        cli.main(["123", "--network", "mpesa"], SANDBOX_URL)
    assert info.value.code == 2
    assert "--network" in capsys.readouterr().err


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[FastAPI]:
    """The apps main() would serve, instead of serving them."""
    apps: list[FastAPI] = []
    monkeypatch.setattr(sandbox_main, "serve", lambda app, **_: apps.append(app))
    for name in ("EFECTY", "OXXO", "MOMO", "ISSUER", "BANK"):
        for field in ("API_KEY", "WEBHOOK_SECRET"):
            monkeypatch.delenv(f"PAYMENTS_{name}_{field}", raising=False)
    monkeypatch.setenv("PAYMENTS_HUB_API_KEY", "hub-key")
    monkeypatch.setenv("PAYMENTS_HUB_WEBHOOK_SECRET", "hub-secret")
    monkeypatch.setenv("PAYMENTS_RELAY_PORT", "8399")
    return apps


def _close(app: FastAPI) -> None:
    for name in ("sandbox", "momo", "issuer", "bank", "merchant", "efecty", "oxxo"):
        state = getattr(app.state, name, None)
        if state is not None:
            state.store.close()


def test_the_cash_networks_run_when_their_secrets_are_set(
    served: list[FastAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sandbox_main.main([])
    assert (served[0].state.efecty, served[0].state.oxxo) == (None, None)
    _close(served.pop())

    monkeypatch.setenv("PAYMENTS_EFECTY_API_KEY", "efecty-key")
    monkeypatch.setenv("PAYMENTS_EFECTY_WEBHOOK_SECRET", "efecty-secret")
    monkeypatch.setenv("PAYMENTS_OXXO_API_KEY", "oxxo-key")
    monkeypatch.setenv("PAYMENTS_OXXO_WEBHOOK_SECRET", OXXO_SECRET)
    sandbox_main.main(["--state-file", str(tmp_path / "sandbox.db")])
    (app,) = served
    efecty, oxxo = app.state.efecty.config, app.state.oxxo.config
    assert (efecty.api_key, efecty.webhook_secret) == ("efecty-key", "efecty-secret")
    assert efecty.webhook_url == "http://127.0.0.1:8399/webhooks/efecty"
    assert oxxo.webhook_url == "http://127.0.0.1:8399/webhooks/oxxo"
    assert efecty.state_file == oxxo.state_file == tmp_path / "sandbox.db"
    assert efecty.confirmation_delay_seconds == 900 and oxxo.fee_bps == 360
    paths = set(app.openapi()["paths"])
    assert {"/efecty/v4/transactions", "/oxxo/v1/payment_intents"} <= paths
    assert "/admin/oxxo/vouchers/{name}/payments" in paths
    assert markdown_table() in app.description
    _close(served.pop())

    sandbox_main.main(["--efecty-webhook-url", "none"])
    assert served[0].state.efecty.config.webhook_url is None
    _close(served.pop())


def test_a_bad_oxxo_secret_stops_with_a_message_not_the_secret(
    served: list[FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_OXXO_API_KEY", "oxxo-key")
    monkeypatch.setenv("PAYMENTS_OXXO_WEBHOOK_SECRET", "not!base64")
    with pytest.raises(SystemExit, match="PAYMENTS_OXXO_WEBHOOK_SECRET") as info:
        sandbox_main.main([])
    assert "not!base64" not in str(info.value)
    assert served == []


def test_a_local_stack_confirms_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert stack_configs(settings, {}) == (None, None)
    settings = settings.with_provider(
        "efecty", api_key=SecretStr("e"), webhook_secret=SecretStr("s")
    ).with_provider("oxxo", api_key=SecretStr("o"), webhook_secret=SecretStr(OXXO_SECRET))
    efecty, oxxo = stack_configs(settings, {"settle_seconds": 1, "voucher_lifetime_seconds": 5})
    assert efecty is not None and oxxo is not None
    assert efecty.confirmation_delay_seconds == oxxo.confirmation_delay_seconds
    assert efecty.confirmation_delay_seconds == DEV_CONFIRMATION_SECONDS
    assert (efecty.voucher_lifetime_seconds, oxxo.voucher_lifetime_seconds) == (5, 5)
    assert efecty.webhook_url == f"{settings.relay_url}/webhooks/efecty"
    faster, _ = stack_configs(settings, {"confirmation_delay_seconds": 0.5})
    assert faster is not None and faster.confirmation_delay_seconds == 0.5
    assert efecty_config().api_key == "efecty-test-key"
