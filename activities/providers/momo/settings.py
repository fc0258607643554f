"""Settings of the MoMo disbursement API: ``PAYMENTS_MOMO_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from payments_engine.activities.providers.base import ProviderSettings


class MomoSettings(ProviderSettings):
    """The common provider settings plus MoMo's target environment and callback URL.

    ``api_key`` is the subscription key (``Ocp-Apim-Subscription-Key``).
    """

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_MOMO_", extra="ignore")

    target_environment: str = Field(
        default="sandbox", description="X-Target-Environment, e.g. sandbox or mtnuganda."
    )
    callback_url: str | None = Field(
        default=None,
        description="X-Callback-Url sent with each transfer; unset uses the one MoMo has.",
    )
