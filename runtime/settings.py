"""Settings for every process, from environment variables prefixed ``PAYMENTS_``.

Loaded in ``main()`` of each entry point, never at import. Secrets are ``SecretStr`` so
they never show in a repr or a log line; when ``payments dev`` finds none it generates
random ones for the session and hands the same values to the sandbox and the relay.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".payments")


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

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite in the data dir.",
    )

    relay_host: str = "127.0.0.1"
    relay_port: int = 8300
    relay_max_body_bytes: int = 64 * 1024
    webhook_tolerance_seconds: int = 300

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

    hub_base_url: str | None = Field(
        default=None, description="Wallet hub API; default the sandbox's /hub."
    )
    hub_api_key: SecretStr | None = Field(default=None, description="Key for the hub API.")
    hub_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC secret of the hub's webhooks."
    )
    hub_timeout_seconds: float = Field(
        default=10.0, description="Per-request timeout of calls to the hub."
    )

    @property
    def resolved_database_url(self) -> str:
        """The ledger database URL, defaulting to SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    @property
    def relay_url(self) -> str:
        """Base URL of the relay."""
        return f"http://{self.relay_host}:{self.relay_port}"

    @property
    def sandbox_url(self) -> str:
        """Base URL of the sandbox."""
        return f"http://{self.sandbox_host}:{self.sandbox_port}"

    @property
    def resolved_hub_base_url(self) -> str:
        """The hub API base URL, defaulting to the sandbox's hub."""
        return self.hub_base_url or f"{self.sandbox_url}/hub"

    def temporal_ui_url(self) -> str:
        """Web UI base URL for the namespace (embedded dev server)."""
        return f"http://localhost:{self.temporal_ui_port}/namespaces/{self.temporal_namespace}"
