"""Settings for every process, from environment variables prefixed ``PAYMENTS_``.

Loaded in ``main()`` of each entry point, never at import. Secrets are ``SecretStr`` so
they never show in a repr or a log line; when ``payments dev`` finds none it generates
random ones for the session and hands the same values to the sandbox and the relay. The
payload codec's keys, its server's token and the fingerprint key it keeps in the data
dir instead (``runtime.codec.with_dev_secrets``), so they survive a restart. Without
``PAYMENTS_CODEC_KEYS`` (or the data dir's ``codec.key``) the settings refuse to load
unless Temporal is a local dev server: see :attr:`Settings.temporal_is_local`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from payments_engine.activities.providers.base import ProviderSettings

DEFAULT_DATA_DIR = Path(".payments")

# DuckDB's own size syntax, restricted to units a person means: "512MB", "2 GiB".
_MEMORY_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.I)
_UNIT_BYTES = {
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
# Below this a reconciliation of a big report fails instead of spilling.
MIN_RECONCILE_MEMORY_BYTES = 64 * 2**20


class SettingsError(ValueError):
    """Settings cannot be read; the message names each bad variable, never its value."""


def load_settings() -> Settings:
    """Read the settings of every entry point from the environment.

    Raises:
        SettingsError: ``PAYMENTS_RELAY_PORT: Input should be a valid integer``, one
            ``VARIABLE: reason`` per problem, joined by ``; `` (values are never shown:
            some are secrets).
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    from payments_engine.activities.providers.registry import PROVIDERS

    prefixes = {
        spec.settings_type.__name__: str(spec.settings_type.model_config.get("env_prefix", ""))
        for spec in PROVIDERS.values()
    }
    prefix = prefixes.get(exc.title, "PAYMENTS_")
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        field = "_".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{prefix}{field}: {message}" if field else message)
    return "; ".join(problems)


def _provider_settings() -> dict[str, ProviderSettings]:
    # Imported here, not at the top: the registry imports the adapters, and settings are
    # loaded in main(), never at import.
    from payments_engine.activities.providers.registry import PROVIDERS

    return {name: spec.settings_type() for name, spec in PROVIDERS.items()}


class Settings(BaseSettings):
    """Engine settings; each field is the variable ``PAYMENTS_<FIELD>`` upper-cased."""

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore")

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Where `payments dev` keeps the Temporal and ledger SQLite files.",
    )

    temporal_address: str = Field(default="localhost:7233", description="Temporal frontend.")
    temporal_namespace: str = "default"
    temporal_tls: bool = Field(default=False, description="Use TLS to reach Temporal.")
    temporal_tls_cert: Path | None = Field(default=None, description="Client cert (mTLS).")
    temporal_tls_key: Path | None = Field(default=None, description="Client key (mTLS).")
    temporal_api_key: SecretStr | None = Field(default=None, description="Temporal Cloud key.")
    temporal_embedded: bool = Field(
        default=True,
        description="`payments dev` starts the Temporal dev server; false to use an external one.",
    )
    temporal_ui_port: int = 8233
    task_queue: str = "payments"

    codec_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Payload encryption keys, `id:base64key` (32-byte AES-256 keys), comma-separated:"
            " the first encrypts, every one decrypts. Unset: `<data dir>/codec.key`, which"
            " `payments dev` makes; required unless Temporal is a local dev server."
        ),
    )
    codec_host: str = Field(
        default="127.0.0.1", description="`payments dev`: where the codec server listens."
    )
    codec_port: int = Field(
        default=8500, description="`payments dev`: the codec server's port (Web UI, CLI)."
    )
    codec_auth_token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token the codec server requires; `payments dev` keeps one in"
            " `<data dir>/codec-auth.token` when unset."
        ),
    )
    fingerprint_key: SecretStr | None = Field(
        default=None,
        description=(
            "HMAC key of the payout request fingerprint (memo), 32+ characters; unset:"
            " `<data dir>/fingerprint.key` (made by `payments dev`), else no fingerprint is"
            " stored and a reused id is checked against the recorded request."
        ),
    )

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite in the data dir.",
    )

    reconcile_memory_limit: str = Field(
        default="512MB",
        description=(
            "Memory a reconciliation run's DuckDB may use (e.g. 512MB, 2GiB; at least 64MiB);"
            " beyond it, it spills to <data dir>/reconciliation."
        ),
    )
    refund_window_days: int = Field(
        default=180, ge=1, description="How long after a collection it may be refunded."
    )
    relay_host: str = "127.0.0.1"
    relay_port: int = 8300
    relay_max_body_bytes: int = 64 * 1024
    authorization_margin_ms: int = Field(
        default=300,
        ge=0,
        le=5_000,
        description=(
            "Relay: how long before an issuer's authorization deadline it stops waiting for"
            " the card and answers the default (decline) itself, so the answer is in time."
        ),
    )
    authorization_default_deadline_ms: int = Field(
        default=2_000,
        gt=0,
        le=30_000,
        description="Relay: the issuer's deadline when its request states none (Stripe: 2 s).",
    )
    webhook_tolerance_seconds: int = 300

    merchant_hooks_url: str | None = Field(
        default=None,
        description=(
            "Base URL of the merchant's hooks (stock hold/release of cash orders); unset"
            " uses the sandbox's recorder at `<sandbox>/merchant`."
        ),
    )
    merchant_hooks_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to the merchant's hooks, if any."
    )
    merchant_hooks_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Per-call timeout of the merchant's hooks."
    )

    sandbox_enabled: bool = Field(default=True, description="`payments dev` runs the sandbox.")
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 8400
    sandbox_settle_seconds: float = Field(
        default=1.0, description="Sandbox: delay before a transfer becomes final."
    )
    sandbox_late_success_seconds: float = Field(
        default=30.0, description="Sandbox: delay of the late-success magic number."
    )
    sandbox_state_file: Path | None = Field(
        default=None,
        description=(
            "Sandbox: SQLite file it keeps its transfers, webhooks and floats in across"
            " restarts; `payments dev` uses `<data dir>/sandbox.db` when unset, elsewhere"
            " unset keeps them in memory only."
        ),
    )

    providers: dict[str, ProviderSettings] = Field(
        default_factory=_provider_settings,
        description=(
            "Per provider, from PAYMENTS_<PROVIDER>_<FIELD>: e.g. PAYMENTS_HUB_API_KEY,"
            " PAYMENTS_MOMO_WEBHOOK_SECRET (see each provider's settings class)."
        ),
    )

    @field_validator("codec_keys", "codec_auth_token", "fingerprint_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # docker-compose's ${VARIABLE:-} passes an empty string for an unset secret.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("codec_keys")
    @classmethod
    def _usable_codec_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from payments_engine.runtime.codec import Keyring

            Keyring.parse(value.get_secret_value())
        return value

    @field_validator("fingerprint_key", "codec_auth_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. openssl rand -base64 32)")
        return value

    @field_validator("reconcile_memory_limit")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        match = _MEMORY_SIZE.match(value)
        if match is None:
            raise ValueError("must be a size such as 512MB or 2GiB (units KB..TB, KiB..TiB)")
        number, unit = match.groups()
        if float(number) * _UNIT_BYTES[unit.lower()] < MIN_RECONCILE_MEMORY_BYTES:
            raise ValueError("must be at least 64MiB")
        # DuckDB reads the units case-insensitively; this is the canonical spelling.
        return f"{number}{unit.upper().replace('I', 'i')}"

    @model_validator(mode="after")
    def _codec_keys_unless_local(self) -> Settings:
        # Payloads go unencrypted only to a local dev server; anything else must have
        # keys, or this process would write personal data in clear into Temporal.
        from payments_engine.runtime.codec import CODEC_KEY_FILE

        if (
            self.codec_keys is None
            and not self.temporal_is_local
            and not (self.data_dir / CODEC_KEY_FILE).exists()
        ):
            raise ValueError(
                "PAYMENTS_CODEC_KEYS: required when Temporal is not a local dev server"
                f" ({self.temporal_address}): set it to `id:base64key` (README: Payload"
                " encryption)"
            )
        return self

    @model_validator(mode="after")
    def _usable_webhook_secrets(self) -> Settings:
        # Refused at start, naming the variable: e.g. a MoMo secret that is not whsec_ +
        # base64 would otherwise only fail at the first webhook.
        from payments_engine.activities.providers.registry import PROVIDERS

        for name, secret in self.webhook_secrets().items():
            spec = PROVIDERS.get(name)
            if spec is None:
                continue
            try:
                spec.signature.check_secret(secret.get_secret_value())
            except ValueError as exc:
                variable = f"PAYMENTS_{name.upper()}_WEBHOOK_SECRET"
                raise ValueError(f"{variable}: {exc}") from None
        return self

    @property
    def resolved_database_url(self) -> str:
        """The ledger database URL, defaulting to SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    @property
    def temporal_is_local(self) -> bool:
        """Temporal is a dev server on this machine: loopback address, no TLS, no API key."""
        host = self.temporal_address.rpartition(":")[0].strip("[]") or "localhost"
        loopback = host == "localhost" or host == "::1" or host.startswith("127.")
        secured = self.temporal_tls or self.temporal_tls_cert is not None
        return loopback and not secured and self.temporal_api_key is None

    @property
    def codec_url(self) -> str:
        """Base URL of the codec server (``payments dev``)."""
        return f"http://{self.codec_host}:{self.codec_port}"

    @property
    def relay_url(self) -> str:
        """Base URL of the relay."""
        return f"http://{self.relay_host}:{self.relay_port}"

    @property
    def sandbox_url(self) -> str:
        """Base URL of the sandbox."""
        return f"http://{self.sandbox_host}:{self.sandbox_port}"

    @property
    def resolved_merchant_hooks_url(self) -> str:
        """The merchant's hooks: the configured URL, else the sandbox's recorder."""
        return self.merchant_hooks_url or f"{self.sandbox_url}/merchant"

    @classmethod
    def variables(cls) -> set[str]:
        """Every environment variable the settings read, providers' included."""
        from payments_engine.activities.providers.registry import PROVIDERS

        names = {f"PAYMENTS_{field.upper()}" for field in cls.model_fields if field != "providers"}
        for name, spec in PROVIDERS.items():
            names |= {
                f"PAYMENTS_{name.upper()}_{field.upper()}"
                for field in spec.settings_type.model_fields
            }
        return names

    def provider(self, name: str) -> ProviderSettings:
        """The settings of provider ``name``.

        Raises:
            ProviderNotSupported: the registry has no such provider.
        """
        from payments_engine.activities.providers.registry import provider_spec

        spec = provider_spec(name)
        return self.providers.get(name) or spec.settings_type()

    def provider_base_url(self, name: str) -> str:
        """Provider ``name``'s API base URL, defaulting to its simulator in the sandbox."""
        from payments_engine.activities.providers.registry import provider_spec

        return (
            self.provider(name).base_url or f"{self.sandbox_url}{provider_spec(name).sandbox_path}"
        )

    def with_provider(self, name: str, **fields: Any) -> Settings:
        """A copy with some of provider ``name``'s settings replaced (tests, ``payments dev``)."""
        current = self.provider(name)
        providers = dict(self.providers)
        providers[name] = current.model_copy(update=fields)
        return self.model_copy(update={"providers": providers})

    def configured_providers(self) -> list[str]:
        """Names of the providers whose credentials are set, in the registry's order."""
        return [name for name, provider in self.providers.items() if provider.configured]

    def webhook_secrets(self) -> dict[str, SecretStr]:
        """Provider name -> webhook secret, for the providers that have one set."""
        return {
            name: provider.webhook_secret
            for name, provider in self.providers.items()
            if provider.webhook_secret is not None and provider.webhook_secret.get_secret_value()
        }

    def temporal_ui_url(self) -> str:
        """Web UI base URL for the namespace (embedded dev server)."""
        return f"http://localhost:{self.temporal_ui_port}/namespaces/{self.temporal_namespace}"
