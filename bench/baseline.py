"""The baseline of ``payout_throughput.py``: the payout's shape with no work in it.

In a module of its own, as small as it can be: the Temporal sandbox re-imports a
workflow's module for every new workflow, so a baseline defined in the (much larger)
benchmark script would pay for importing the script each time, and flatter the engine.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

# The same activity timeouts as the engine's workflow, so the shape matches.
ACTIVITY_TIMEOUT = timedelta(seconds=15)


class BaselinePayoutInput(BaseModel):
    """The baseline's input: a payout id and an amount, like a small PayoutRequest."""

    payout_id: str
    amount_minor: int
    currency: str


class BaselineEvent(BaseModel):
    """The baseline's stand-in for a provider webhook."""

    event_id: str
    outcome: str


class BaselinePayoutResult(BaseModel):
    """The baseline's result."""

    payout_id: str
    status: str


@activity.defn
async def baseline_reserve_funds(inp: BaselinePayoutInput) -> None:
    """No-op stand-in for the ledger reservation."""


@activity.defn
async def baseline_submit_payout(inp: BaselinePayoutInput) -> str:
    """No-op stand-in for the hub submission; answers "queued" like the hub's ack."""
    return "queued"


@activity.defn
async def baseline_confirm_status(inp: BaselinePayoutInput) -> str:
    """No-op stand-in for the status query that confirms a final webhook."""
    return "succeeded"


@activity.defn
async def baseline_settle_payout(inp: BaselinePayoutInput) -> None:
    """No-op stand-in for the ledger settlement."""


@workflow.defn
class BaselinePayoutWorkflow:
    """reserve -> submit -> wait for a signal -> confirm -> settle -> result, all no-ops.

    The engine confirms every final webhook with a status query before moving money; the
    baseline has the same step, so the ratio measures the engine's own cost. Its steps
    are regular activities, the plainest way to write the shape.
    """

    @workflow.init
    def __init__(self, inp: BaselinePayoutInput) -> None:
        """Ready for a signal that arrives before the run starts."""
        self._event: BaselineEvent | None = None

    @workflow.run
    async def run(self, inp: BaselinePayoutInput) -> BaselinePayoutResult:
        """The payout's shape without its work."""
        await workflow.execute_activity(
            baseline_reserve_funds, inp, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        await workflow.execute_activity(
            baseline_submit_payout, inp, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        await workflow.wait_condition(lambda: self._event is not None)
        await workflow.execute_activity(
            baseline_confirm_status, inp, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        await workflow.execute_activity(
            baseline_settle_payout, inp, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        assert self._event is not None
        return BaselinePayoutResult(payout_id=inp.payout_id, status=self._event.outcome)

    @workflow.signal
    async def provider_event(self, event: BaselineEvent) -> None:
        """Record the (instant) webhook."""
        if self._event is None:
            self._event = event
