"""Settings of the bank-transfer provider: ``PAYMENTS_BANK_*``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from payments_engine.activities.providers.base import ProviderSettings


class BankSettings(ProviderSettings):
    """The common provider settings, read from ``PAYMENTS_BANK_*``.

    ``api_key`` is the bearer token of its API; ``webhook_secret`` (``whsec_...``) signs
    its webhooks (Standard Webhooks).
    """

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_BANK_", extra="ignore")
