"""Configuration of the relay: webhook secrets per provider, tolerance and size limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from domain.webhooks import DEFAULT_TOLERANCE_SECONDS

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class RelayConfig(BaseModel):
    """What the relay accepts.

    Attributes:
        secrets: provider name -> HMAC secret of its webhooks; the known providers are
            exactly its keys.
        tolerance_seconds: how far a signature's timestamp may be from now, either way.
        max_body_bytes: the largest body read; anything longer is refused unread.
    """

    model_config = ConfigDict(frozen=True)

    secrets: dict[str, SecretStr]
    tolerance_seconds: int = Field(default=DEFAULT_TOLERANCE_SECONDS, ge=0)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)

    @field_validator("secrets")
    @classmethod
    def _no_empty_secret(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        # An empty key makes every HMAC computable by anyone: refuse to start instead.
        for provider, secret in value.items():
            if not secret.get_secret_value():
                raise ValueError(f"empty webhook secret for provider {provider!r}")
        return value
