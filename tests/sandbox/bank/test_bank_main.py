"""``payments sandbox``: the bank when both of its secrets are set; the merchant recorder always."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from payments_engine.sandbox import __main__ as sandbox_main
from tests.sandbox.bank.support import BANK_SECRET

BANK_VARIABLES = ("PAYMENTS_BANK_API_KEY", "PAYMENTS_BANK_WEBHOOK_SECRET")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[FastAPI]:
    """The apps main() would serve, instead of serving them."""
    apps: list[FastAPI] = []

    def run(app: FastAPI, **_: Any) -> None:
        apps.append(app)

    monkeypatch.setattr(sandbox_main, "serve", run)
    for name in BANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYMENTS_HUB_API_KEY", "hub-key")
    monkeypatch.setenv("PAYMENTS_HUB_WEBHOOK_SECRET", "hub-secret")
    monkeypatch.setenv("PAYMENTS_RELAY_PORT", "8399")
    return apps


def _close(app: FastAPI) -> None:
    for name in ("sandbox", "momo", "issuer", "bank", "merchant"):
        state = getattr(app.state, name, None)
        if state is not None:
            state.store.close()


def test_no_bank_without_its_secrets_but_always_the_merchant(served: list[FastAPI]) -> None:
    sandbox_main.main([])
    (app,) = served
    assert app.state.bank is None
    assert app.state.merchant is not None and app.state.merchant.config.api_key is None
    _close(app)


def test_the_bank_is_mounted_when_both_secrets_are_set(
    served: list[FastAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAYMENTS_BANK_API_KEY", "bank-key")
    monkeypatch.setenv("PAYMENTS_BANK_WEBHOOK_SECRET", BANK_SECRET)
    state_file = tmp_path / "sandbox.db"
    sandbox_main.main(["--state-file", str(state_file), "--bank-settlement-delay-seconds", "30"])
    (app,) = served
    bank = app.state.bank.config
    assert (bank.api_key, bank.webhook_secret) == ("bank-key", BANK_SECRET)
    assert bank.webhook_url == "http://127.0.0.1:8399/webhooks/bank"
    assert bank.settlement_delay_seconds == 30
    # One state file for every simulator; each keeps to its own documents in it.
    assert bank.state_file == state_file
    assert app.state.merchant.config.state_file == state_file
    _close(app)

    served.clear()
    sandbox_main.main(["--bank-webhook-url", "none"])
    (app,) = served
    assert app.state.bank.config.webhook_url is None
    assert app.state.bank.config.settlement_delay_seconds == 86_400
    _close(app)


def test_a_bad_bank_secret_stops_with_a_message_not_the_secret(
    served: list[FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_BANK_API_KEY", "bank-key")
    monkeypatch.setenv("PAYMENTS_BANK_WEBHOOK_SECRET", "not!base64")
    with pytest.raises(SystemExit, match="PAYMENTS_BANK_WEBHOOK_SECRET") as info:
        sandbox_main.main([])
    assert "not!base64" not in str(info.value)
    assert served == []
