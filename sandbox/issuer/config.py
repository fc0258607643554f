"""Configuration of the card issuer and card network simulator."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS
from payments_engine.sandbox.common.config import (
    DEFAULT_RETRY_DELAYS,
    SimulatorConfig,
    check_delays,
)

SECRET_PREFIX = "whsec_"


class IssuerSandboxConfig(SimulatorConfig):
    """How one card issuer simulator behaves: the common settings and the network's own.

    The float and the payout timings of the common settings mean nothing to a card
    issuer and are ignored.

    Attributes:
        api_key: the bearer token every ``/issuer`` call must carry.
        webhook_secret: the Standard Webhooks secret (``whsec_<base64>``) the card events
            and the authorization requests are signed with.
        webhook_url: where card events are POSTed (the relay's ``/webhooks/issuer``);
            None sends none.
        authorization_url: where the network POSTs each authorization request and waits
            for the answer (the relay's ``/authorizations/issuer``); None declines every
            purchase at the network (``issuer_timeout``).
        authorization_deadline_seconds: how long the network waits for an answer; a
            later one is a decline even if it approves.
        kyc_review_seconds: how long a cardholder under review (``...0002``,
            ``...0003``) waits for its KYC decision.
        over_capture_tolerance_percent: how far the captures of an authorization may go
            beyond its approved amount, in percent of it (tips, fuel).
        webhook_retry_delays: seconds between delivery attempts of a card event;
            attempts = len + 1.
        state_file: may be the hub's file: each simulator keeps its own documents.
    """

    # A refused secret must not reach an error message or a log.
    model_config = ConfigDict(hide_input_in_errors=True)

    # webhook-id, webhook-timestamp and webhook-signature: v1,<base64 HMAC-SHA256>.
    signature_scheme = STANDARD_WEBHOOKS

    authorization_url: str | None = None
    authorization_deadline_seconds: float = Field(default=2.0, gt=0, le=60)
    kyc_review_seconds: float = Field(default=5.0, ge=0)
    over_capture_tolerance_percent: int = Field(default=20, ge=0, le=1000)
    webhook_retry_delays: list[float] = Field(default_factory=lambda: list(DEFAULT_RETRY_DELAYS))

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, secret: str) -> str:
        # Whatever the scheme can sign with is fine; the message names the usual shape.
        try:
            cls.signature_scheme.check_secret(secret)
        except ValueError as exc:
            raise ValueError(
                f"not a Standard Webhooks secret ({SECRET_PREFIX}<base64>): {type(exc).__name__}"
            ) from None
        return secret

    @field_validator("webhook_retry_delays")
    @classmethod
    def _non_negative_delays(cls, delays: list[float]) -> list[float]:
        check_delays(delays)
        return delays
