"""Per-provider settings: ``PAYMENTS_<PROVIDER>_<FIELD>`` through the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from payments_engine.activities.providers.base import ProviderNotSupported
from payments_engine.activities.providers.momo.settings import MomoSettings
from payments_engine.relay.config import RelayConfig
from payments_engine.runtime.settings import Settings, SettingsError, load_settings
from payments_engine.starter.cli import app


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in Settings.variables():
        monkeypatch.delenv(variable, raising=False)


def test_each_provider_reads_its_own_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_HUB_API_KEY", "hub-key")
    monkeypatch.setenv("PAYMENTS_HUB_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("PAYMENTS_MOMO_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    monkeypatch.setenv("PAYMENTS_MOMO_TARGET_ENVIRONMENT", "mtnuganda")

    settings = Settings()

    hub, momo = settings.provider("hub"), settings.provider("momo")
    assert hub.api_key is not None and hub.api_key.get_secret_value() == "hub-key"
    assert hub.timeout_seconds == 2.5
    assert momo.api_key is None
    assert isinstance(momo, MomoSettings) and momo.target_environment == "mtnuganda"
    assert settings.configured_providers() == ["hub"]
    assert set(settings.webhook_secrets()) == {"momo"}
    # Secrets stay out of reprs.
    assert "hub-key" not in repr(settings)


def test_default_base_url_is_the_providers_simulator_in_the_sandbox() -> None:
    settings = Settings(sandbox_host="127.0.0.1", sandbox_port=9400)
    assert settings.provider_base_url("hub") == "http://127.0.0.1:9400/hub"
    assert settings.provider_base_url("momo") == "http://127.0.0.1:9400/momo"
    moved = settings.with_provider("momo", base_url="https://momo.example")
    assert moved.provider_base_url("momo") == "https://momo.example"
    assert settings.provider_base_url("momo").endswith("/momo")


def test_unknown_provider_names_the_known_ones() -> None:
    with pytest.raises(
        ProviderNotSupported,
        match="unknown provider 'mpesa'; known: bank, efecty, hub, issuer, momo, oxxo",
    ):
        Settings().provider("mpesa")


def test_variables_cover_engine_and_provider_settings() -> None:
    variables = Settings.variables()
    assert {"PAYMENTS_TASK_QUEUE", "PAYMENTS_HUB_API_KEY", "PAYMENTS_MOMO_CALLBACK_URL"} <= (
        variables
    )
    assert "PAYMENTS_PROVIDERS" not in variables


def test_relay_refuses_a_webhook_secret_its_scheme_cannot_use() -> None:
    with pytest.raises(ValidationError, match="momo|standard"):
        RelayConfig(secrets={"momo": SecretStr("whsec_not base64!")})
    RelayConfig(secrets={"momo": SecretStr("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")})
    RelayConfig(secrets={"hub": SecretStr("any string works for the hub")})


def test_load_settings_names_each_bad_variable_never_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENTS_RELAY_PORT", "eighty")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith("PAYMENTS_RELAY_PORT: Input should be a valid integer")
    assert "eighty" not in str(caught.value)


def test_load_settings_names_a_bad_provider_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_HUB_TIMEOUT_SECONDS", "-1")
    with pytest.raises(SettingsError, match="^PAYMENTS_HUB_TIMEOUT_SECONDS: .*greater than 0"):
        load_settings()


def test_a_webhook_secret_its_scheme_cannot_use_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "whsec_this is not base64"
    monkeypatch.setenv("PAYMENTS_MOMO_WEBHOOK_SECRET", secret)
    with pytest.raises(SettingsError, match="^PAYMENTS_MOMO_WEBHOOK_SECRET: ") as caught:
        load_settings()
    assert "this is not" not in str(caught.value)


def test_cli_with_bad_settings_exits_2_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner(env={"PAYMENTS_TASK_QUEUE": "q", "PAYMENTS_SANDBOX_PORT": "x"}).invoke(
        app, ["payout", "list"]
    )
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()).startswith(
        "invalid settings: PAYMENTS_SANDBOX_PORT: Input should be a valid integer"
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("given", "kept"),
    [("512MB", "512MB"), ("2gib", "2GiB"), (" 1.5 GB ", "1.5GB"), ("64MiB", "64MiB")],
)
def test_reconcile_memory_limit_takes_a_size_in_duckdbs_units(given: str, kept: str) -> None:
    assert Settings(reconcile_memory_limit=given).reconcile_memory_limit == kept


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("lots", "must be a size such as 512MB"),
        ("512", "must be a size such as 512MB"),
        ("-1GB", "must be a size such as 512MB"),
        ("63MiB", "must be at least 64MiB"),
        ("60MB", "must be at least 64MiB"),
    ],
)
def test_a_bad_reconcile_memory_limit_is_refused_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, given: str, reason: str
) -> None:
    monkeypatch.setenv("PAYMENTS_RECONCILE_MEMORY_LIMIT", given)
    with pytest.raises(SettingsError, match=f"^PAYMENTS_RECONCILE_MEMORY_LIMIT: .*{reason}"):
        load_settings()


def test_the_readme_documents_every_setting_and_no_other() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(PAYMENTS_[A-Z0-9_]+)` \|", readme, re.MULTILINE))
    engine = {f"PAYMENTS_{name.upper()}" for name in Settings.model_fields if name != "providers"}
    assert engine - documented == set(), "settings missing from the README's table"
    assert documented - set(Settings.variables()) == set(), "README rows that are no setting"
