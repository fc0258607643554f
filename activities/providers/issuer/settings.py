"""Settings of the card issuer's API: ``PAYMENTS_ISSUER_*``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from payments_engine.activities.providers.base import ProviderSettings


class IssuerSettings(ProviderSettings):
    """The common provider settings.

    ``api_key`` is the bearer token of its API; ``webhook_secret`` (``whsec_...``) signs
    both its webhooks and its authorization requests.
    """

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_ISSUER_", extra="ignore")
