"""Configuration of the relay: webhook secrets, tolerance, size limits and redelivery."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.domain.webhooks import DEFAULT_TOLERANCE_SECONDS
from payments_engine.runtime.settings import Settings

DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_REDELIVERY_POLL_SECONDS = 1.0
DEFAULT_REDELIVERY_INITIAL_BACKOFF_SECONDS = 1.0
DEFAULT_REDELIVERY_MAX_BACKOFF_SECONDS = 60.0
# Well above a delivery's own limit (the Temporal signal's 5 s RPC timeout), so an event
# is only taken over from a relay that died while delivering it.
DEFAULT_REDELIVERY_LEASE_SECONDS = 30.0
DEFAULT_REDELIVERY_BATCH_SIZE = 100


class RelayConfig(BaseModel):
    """What the relay accepts.

    Attributes:
        secrets: provider name -> HMAC secret of its webhooks; the known providers are
            exactly its keys.
        tolerance_seconds: how far a signature's timestamp may be from now, either way.
        max_body_bytes: the largest body read; anything longer is refused unread.
        redelivery_poll_seconds: how often the redelivery loop looks for due events.
        redelivery_initial_backoff_seconds: wait after an event's first failed delivery;
            it doubles with every further failure.
        redelivery_max_backoff_seconds: the longest wait between two attempts.
        redelivery_lease_seconds: how long a relay that took an event for delivery keeps
            it before another relay may take it over (it died while delivering).
        redelivery_batch_size: the most events one round of the loop takes on.
        authorization_margin_seconds: how long before an issuer's authorization deadline
            the relay stops waiting for the card and answers the default decline itself.
        authorization_default_deadline_seconds: the deadline of a request stating none.
    """

    model_config = ConfigDict(frozen=True)

    secrets: dict[str, SecretStr]
    tolerance_seconds: int = Field(default=DEFAULT_TOLERANCE_SECONDS, ge=0)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    redelivery_poll_seconds: float = Field(default=DEFAULT_REDELIVERY_POLL_SECONDS, gt=0)
    redelivery_initial_backoff_seconds: float = Field(
        default=DEFAULT_REDELIVERY_INITIAL_BACKOFF_SECONDS, gt=0
    )
    redelivery_max_backoff_seconds: float = Field(
        default=DEFAULT_REDELIVERY_MAX_BACKOFF_SECONDS, gt=0
    )
    redelivery_lease_seconds: float = Field(default=DEFAULT_REDELIVERY_LEASE_SECONDS, gt=0)
    redelivery_batch_size: int = Field(default=DEFAULT_REDELIVERY_BATCH_SIZE, gt=0)
    authorization_margin_seconds: float = Field(default=0.3, ge=0)
    authorization_default_deadline_seconds: float = Field(default=2.0, gt=0)

    @field_validator("secrets")
    @classmethod
    def _no_empty_secret(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        # An empty key makes every HMAC computable by anyone: refuse to start instead.
        for provider, secret in value.items():
            if not secret.get_secret_value():
                raise ValueError(f"empty webhook secret for provider {provider!r}")
            spec = PROVIDERS.get(provider)
            if spec is not None:
                # e.g. a Standard Webhooks secret that is not whsec_ + base64.
                spec.signature.check_secret(secret.get_secret_value())
        return value

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayConfig:
        """The relay of these settings: every provider with a webhook secret is served."""
        return cls(
            secrets=settings.webhook_secrets(),
            tolerance_seconds=settings.webhook_tolerance_seconds,
            max_body_bytes=settings.relay_max_body_bytes,
            authorization_margin_seconds=settings.authorization_margin_ms / 1000,
            authorization_default_deadline_seconds=settings.authorization_default_deadline_ms
            / 1000,
        )

    @model_validator(mode="after")
    def _backoff_bounds(self) -> Self:
        if self.redelivery_max_backoff_seconds < self.redelivery_initial_backoff_seconds:
            raise ValueError("redelivery_max_backoff_seconds is below the initial backoff")
        return self
