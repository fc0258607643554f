"""Settings of OXXO's API: ``PAYMENTS_OXXO_*``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from payments_engine.activities.providers.base import ProviderSettings


class OxxoSettings(ProviderSettings):
    """The common provider settings.

    ``api_key`` is the bearer token of its API; ``webhook_secret`` (``whsec_...``) signs
    its notifications (Standard Webhooks).
    """

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_OXXO_", extra="ignore")
