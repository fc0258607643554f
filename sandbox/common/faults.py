"""The faults the admin API of a simulator injects at run time; all off by default."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Faults(BaseModel):
    """Faults injected into a provider's API and its webhooks; all off by default.

    Each simulator documents which of them it applies (the hub applies all of them).

    Attributes:
        error_rate: share of API calls answered 503 before anything is done.
        error_after_execute_rate: share of payout submissions that are executed and then
            answered 500: the ambiguous failure an adapter must resolve by a status query.
        latency_ms: delay added before answering any API call.
        duplicate_webhooks: deliver every webhook twice (same event id).
        out_of_order_webhooks: after every final webhook, also deliver a stale pending
            webhook with its own event id.
        hold_submissions: payout submissions are executed, then their answers are held
            until this is switched off (or the client hangs up): callers stay in flight
            for as long as a test needs, e.g. to kill a worker mid-submission.
    """

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_after_execute_rate: float = Field(default=0.0, ge=0, le=1)
    latency_ms: int = Field(default=0, ge=0, le=600_000)
    duplicate_webhooks: bool = False
    out_of_order_webhooks: bool = False
    hold_submissions: bool = False
