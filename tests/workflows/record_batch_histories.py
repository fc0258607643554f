"""Record BatchPayoutWorkflow, FloatWatchWorkflow and batch-child PayoutWorkflow histories.

Run ``python -m tests.workflows.record_batch_histories [version]`` when these workflows'
commands change on purpose (behind ``workflow.patched``): it writes, beside the old ones
which must all keep replaying,

- ``batch-<version>-completed``: the first run of a batch that continues as new (three
  lines a run), with payouts that succeed, fail and wait for a poll;
- ``batch-<version>-breaker-cancel-group``: a provider's breaker trips, an operator
  cancels the group, the rest of the batch completes;
- ``float-watch-<version>-low``: one currency below its threshold, alerted;
- ``payout-v4-child-needs-review``: a batch's payout held in needs_review that tells its
  batch (patch ``tell-parent-on-review``), then resolved by an operator.

The activities are the fakes of ``test_batch_payout_workflow`` and ``test_float_watch``
on the time-skipping server. Never regenerate an old history to make a replay test pass.
"""

from __future__ import annotations

import logging
import sys

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from payments_engine.domain.batch import BatchBreaker, BatchRequest, GroupAction
from payments_engine.domain.floats import FloatWatchRequest, float_watch_schedule_id
from payments_engine.domain.ids import payout_workflow_id
from payments_engine.domain.payout import PayoutStatus
from payments_engine.runtime import temporal
from payments_engine.worker.main import WORKFLOW_RUNNER
from payments_engine.workflows.batch_payout import BatchPayoutWorkflow
from payments_engine.workflows.float_watch import FloatWatchWorkflow
from tests.helpers import venv_binary
from tests.workflows import test_batch_payout_workflow as bt
from tests.workflows import test_float_watch as ft
from tests.workflows.record_histories import HERE, _write

log = logging.getLogger("record_batch_histories")


async def record(version: str) -> None:
    """Run each path and write its history as JSON."""
    # On the runtime temporal.run() owns and drops before exit (see the reconciliation
    # recorder).
    owner = temporal._owner
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
        runtime=owner.get() if owner is not None else None,
    ) as env:
        if owner is not None:
            owner.track(env.client)
        client = env.client

        # A batch that continues as new: the first run is the history kept.
        req = BatchRequest(
            batch_id="history-completed",
            merchant_id=bt.MERCHANT,
            concurrency=2,
            page_size=3,
            lines_per_run=3,
        )
        fakes = bt.Fakes(req.batch_id, bt.lines(bt.OK, bt.FAIL, bt.SLOW, bt.OK, bt.OK, bt.OK))
        async with bt.worker(client, fakes, "history-batch"):
            handle = await bt.start(client, req, "history-batch")
            result = await bt.result_of(handle)
            log.info("completed: %s in %d runs", result.status, result.runs)
            assert result.runs >= 2
        first = client.get_workflow_handle(req.workflow_id, run_id=handle.first_execution_run_id)
        path = HERE / f"batch-{version}-completed.json"
        path.write_text((await first.fetch_history()).to_json())
        log.info("wrote %s", path)

        # The breaker trips on provider:bad; an operator cancels the group.
        req = BatchRequest(
            batch_id="history-breaker",
            merchant_id=bt.MERCHANT,
            concurrency=1,
            breaker=BatchBreaker(window=2, threshold=1.0),
        )
        fakes = bt.Fakes(
            req.batch_id,
            bt.lines(*([bt.OK] * 10), provider=lambda n: "bad" if n % 2 == 0 else "hub"),
            failing_providers={"bad"},
        )
        async with bt.worker(client, fakes, "history-batch"):
            handle = await bt.start(client, req, "history-batch")
            await bt.tripped(handle, fakes)
            await handle.execute_update(
                BatchPayoutWorkflow.cancel_group, GroupAction(group="provider:bad")
            )
            result = await bt.result_of(handle)
            log.info("breaker: %s, %d cancelled", result.status, result.cancelled)
        await _write(client, req.workflow_id, f"batch-{version}-breaker-cancel-group")

        # A float watch with one currency low.
        watch = FloatWatchRequest(provider="hub", thresholds={"KES": 1_000_00, "UGX": 50_000})
        float_fakes = ft.Fakes(balances={"KES": 10_00, "UGX": 900_000})
        watch_id = f"{float_watch_schedule_id(watch.provider)}-history-low"
        async with Worker(
            client,
            task_queue="history-float",
            workflows=[FloatWatchWorkflow],
            activities=float_fakes.activities(),
            workflow_runner=WORKFLOW_RUNNER,
        ):
            watched = await client.execute_workflow(
                FloatWatchWorkflow.run, watch, id=watch_id, task_queue="history-float"
            )
            log.info("float watch: low %s, alerted %s", watched.low, watched.alerted)
        await _write(client, watch_id, f"float-watch-{version}-low")

        # Last: a payout in needs_review tells its batch, then an operator resolves it.
        # (An update on the time-skipping server keeps later result waits from skipping.)
        req = BatchRequest(batch_id="history-review", merchant_id=bt.MERCHANT)
        fakes = bt.Fakes(req.batch_id, bt.lines(bt.OK, bt.REVIEW))
        async with bt.worker(client, fakes, "history-batch"):
            result = await bt.result_of(await bt.start(client, req, "history-batch"))
            log.info("review: %s, %d in needs_review", result.status, result.needs_review)
            assert result.needs_review == 1
            payout_id = fakes.payout_id(3)
            decided = await bt.resolve(client, payout_id, PayoutStatus.SUCCEEDED)
            log.info("review decided: %s", decided.status)
            await client.get_workflow_handle(payout_workflow_id(payout_id)).result()
        await _write(client, payout_workflow_id(payout_id), "payout-v4-child-needs-review")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    temporal.run(record(sys.argv[1] if len(sys.argv) > 1 else "v1"))
