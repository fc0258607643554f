"""Settings of Efecty's API: ``PAYMENTS_EFECTY_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from payments_engine.activities.providers.base import ProviderSettings


class EfectySettings(ProviderSettings):
    """The common provider settings plus the notification URL sent with each voucher.

    ``api_key`` is the bearer token of its API; ``webhook_secret`` the HMAC secret of
    its confirmations (``X-Signature``).
    """

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_EFECTY_", extra="ignore")

    notify_url: str | None = Field(
        default=None,
        description="notifyUrl sent with each voucher; unset uses the one Efecty has.",
    )
