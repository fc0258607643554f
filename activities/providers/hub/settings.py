"""Settings of the wallet hub: ``PAYMENTS_HUB_BASE_URL``, ``_API_KEY``, ``_WEBHOOK_SECRET``..."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from payments_engine.activities.providers.base import ProviderSettings


class HubSettings(ProviderSettings):
    """The hub's settings: the common ones, read from ``PAYMENTS_HUB_*``."""

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_HUB_", extra="ignore")
