"""Configuration of the MTN MoMo disbursement simulator."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS
from payments_engine.sandbox.common.config import check_floats, default_floats

SECRET_PREFIX = "whsec_"


class MomoSandboxConfig(BaseModel):
    """How one MoMo simulator behaves: credentials, timings, callbacks and floats.

    Attributes:
        api_key: the ``Ocp-Apim-Subscription-Key`` every ``/momo`` call must carry.
        webhook_secret: the Standard Webhooks secret (``whsec_<base64>``) callbacks are
            signed with.
        webhook_url: where callbacks go when a transfer carried no ``X-Callback-Url``
            (the relay's ``/webhooks/momo``); None sends those none.
        settle_seconds: delay from acceptance to a transfer's final status.
        late_success_seconds: delay to success in the late-success scenario
            (``...123454``).
        timeout_after_accept_seconds: how long the 202 of the timeout scenario
            (``...123452``) is held, so the client times out.
        webhook_timeout_seconds: timeout of the one callback attempt.
        float_balances: the float per currency, in minor units; transfers debit it.
        seed: seed of the fault dice, for reproducible fault runs; None for random.
        tick_seconds: period of the background scheduler.
        state_file: SQLite file keeping transfers, callbacks and floats across restarts
            (faults are not kept); None keeps everything in memory only. It may be the
            hub's file: each simulator keeps its own documents.
    """

    # hide_input_in_errors: a refused secret must not reach an error message or a log.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    api_key: str = Field(min_length=1, repr=False)
    webhook_secret: str = Field(min_length=1, repr=False)
    webhook_url: str | None
    settle_seconds: float = Field(default=1.0, ge=0)
    late_success_seconds: float = Field(default=180.0, ge=0)
    timeout_after_accept_seconds: float = Field(default=30.0, ge=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    float_balances: dict[str, int] = Field(default_factory=default_floats)
    seed: int | None = None
    tick_seconds: float = Field(default=0.05, gt=0)
    state_file: Path | None = None

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, secret: str) -> str:
        # Whatever the scheme can sign with is fine; the message names the usual shape.
        try:
            STANDARD_WEBHOOKS.sign(secret, msg_id="msg_check", timestamp=0, body=b"")
        except Exception as exc:
            raise ValueError(
                f"not a Standard Webhooks secret ({SECRET_PREFIX}<base64>): {type(exc).__name__}"
            ) from None
        return secret

    @field_validator("float_balances")
    @classmethod
    def _known_currencies(cls, floats: dict[str, int]) -> dict[str, int]:
        return check_floats(floats)
