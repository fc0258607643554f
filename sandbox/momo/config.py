"""Configuration of the MTN MoMo simulator (disbursements and collections)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS
from payments_engine.sandbox.common.config import SimulatorConfig

SECRET_PREFIX = "whsec_"


class MomoSandboxConfig(SimulatorConfig):
    """How one MoMo simulator behaves: the common settings, with MoMo's credentials.

    MoMo sends each callback once, so there are no retry delays.

    Attributes:
        api_key: the ``Ocp-Apim-Subscription-Key`` every ``/momo`` call must carry.
        webhook_secret: the Standard Webhooks secret (``whsec_<base64>``) callbacks are
            signed with.
        webhook_url: where callbacks go when a transfer or a request to pay carried no
            ``X-Callback-Url`` (the relay's ``/webhooks/momo``); None sends those none.
        late_success_seconds: the delay of the late-success scenario (``...123454``), and
            how long after the payer's window a late approval (``...000013``) lands.
        request_to_pay_window_seconds: how long a payer has to answer a request to pay;
            one left unanswered then FAILS with EXPIRED. MTN gives 5 minutes.
        timeout_after_accept_seconds: how long the 202 of the timeout scenario
            (``...123452``) is held.
        webhook_timeout_seconds: timeout of the one callback attempt.
        state_file: may be the hub's file: each simulator keeps its own documents.
    """

    # A refused secret must not reach an error message or a log.
    model_config = ConfigDict(hide_input_in_errors=True)

    # webhook-id, webhook-timestamp and webhook-signature: v1,<base64 HMAC-SHA256>.
    signature_scheme = STANDARD_WEBHOOKS

    request_to_pay_window_seconds: float = Field(default=300.0, ge=0)

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, secret: str) -> str:
        # Whatever the scheme can sign with is fine; the message names the usual shape.
        try:
            cls.signature_scheme.sign(secret, msg_id="msg_check", timestamp=0, body=b"")
        except Exception as exc:
            raise ValueError(
                f"not a Standard Webhooks secret ({SECRET_PREFIX}<base64>): {type(exc).__name__}"
            ) from None
        return secret
