"""Settings of the MoMo disbursement API: ``PAYMENTS_MOMO_*``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from payments_engine.activities.providers.base import ProviderSettings
from payments_engine.domain.money import parse_currency


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
    float_currencies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Currencies whose float to read, comma-separated (KES,UGX); unset reads the"
            " account's one currency."
        ),
    )

    @field_validator("float_currencies", mode="before")
    @classmethod
    def _currency_list(cls, value: object) -> object:
        """Accept ``KES,UGX`` as well as a list; upper-case and check every code."""
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        if isinstance(value, list):
            return [parse_currency(code) for code in value]
        return value
