"""``payments sandbox``: the hub as before, MoMo only when both of its secrets are set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from payments_engine.sandbox import __main__ as sandbox_main
from tests.sandbox.momo.support import MOMO_SECRET


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[FastAPI]:
    """The apps main() would serve, instead of serving them."""
    apps: list[FastAPI] = []

    def run(app: FastAPI, **_: Any) -> None:
        apps.append(app)

    monkeypatch.setattr(sandbox_main, "serve", run)
    for name in ("PAYMENTS_MOMO_API_KEY", "PAYMENTS_MOMO_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYMENTS_HUB_API_KEY", "hub-key")
    monkeypatch.setenv("PAYMENTS_HUB_WEBHOOK_SECRET", "hub-secret")
    monkeypatch.setenv("PAYMENTS_RELAY_PORT", "8399")
    return apps


def _close(app: FastAPI) -> None:
    app.state.sandbox.store.close()
    if app.state.momo is not None:
        app.state.momo.store.close()


def test_the_hub_alone_without_momo_secrets(served: list[FastAPI]) -> None:
    sandbox_main.main(["--settle-seconds", "2"])
    (app,) = served
    hub = app.state.sandbox.config
    assert (hub.api_key, hub.webhook_secret, hub.settle_seconds) == ("hub-key", "hub-secret", 2)
    assert hub.webhook_url == "http://127.0.0.1:8399/webhooks/hub"
    assert app.state.momo is None
    _close(app)


def test_momo_is_mounted_when_both_secrets_are_set(
    served: list[FastAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAYMENTS_MOMO_API_KEY", "momo-key")
    monkeypatch.setenv("PAYMENTS_MOMO_WEBHOOK_SECRET", MOMO_SECRET)
    sandbox_main.main(["--state-file", str(tmp_path / "sandbox.db")])
    (app,) = served
    momo = app.state.momo.config
    assert (momo.api_key, momo.webhook_secret) == ("momo-key", MOMO_SECRET)
    assert momo.webhook_url == "http://127.0.0.1:8399/webhooks/momo"
    # One state file for both simulators; each keeps to its own documents in it.
    assert momo.state_file == tmp_path / "sandbox.db"
    assert app.state.sandbox.config.state_file == tmp_path / "sandbox.db"
    _close(app)

    served.clear()
    sandbox_main.main(["--momo-webhook-url", "none"])
    assert served[0].state.momo.config.webhook_url is None
    _close(served[0])


def test_a_bad_momo_secret_stops_with_a_message_not_the_secret(
    served: list[FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_MOMO_API_KEY", "momo-key")
    monkeypatch.setenv("PAYMENTS_MOMO_WEBHOOK_SECRET", "not!base64")
    with pytest.raises(SystemExit, match="invalid settings: PAYMENTS_MOMO_WEBHOOK_SECRET") as info:
        sandbox_main.main([])
    assert "not!base64" not in str(info.value)
    assert served == []
