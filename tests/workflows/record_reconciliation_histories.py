"""Record ReconciliationWorkflow histories on the time-skipping server, for the replay tests.

Run ``python -m tests.workflows.record_reconciliation_histories [version]`` when the
workflow's commands change on purpose (behind ``workflow.patched``): it writes
``histories/reconcile-<version>-<path>.json`` beside the old ones, which must all keep
replaying. The activities are the fakes of ``test_reconciliation_workflow``; the paths:

- ``evidence-alert``: evidence handed to a running payout (and noted), a reference that
  names no workflow, one whose prefix is not its kind's, and findings enough to alert;
- ``clean``: nothing to hand over, nothing to alert;
- ``report-invalid``: the report cannot be read and the run fails.

Never regenerate an old history to make a replay test pass.
"""

from __future__ import annotations

import logging
import sys

from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from payments_engine.domain.reconciliation import LineKind, LineStatus
from payments_engine.runtime import temporal
from tests.helpers import venv_binary
from tests.workflows import test_reconciliation_workflow as rec
from tests.workflows.record_histories import _write

log = logging.getLogger("record_reconciliation_histories")


async def record(version: str) -> None:
    """Run the three paths and write each history as JSON."""
    # On the runtime temporal.run() owns and drops before exit, like connect() does: the
    # SDK's default runtime, left to the interpreter's exit, can abort it.
    owner = temporal._owner
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
        runtime=owner.get() if owner is not None else None,
    ) as env:
        if owner is not None:
            owner.track(env.client)
        task_queue = "history-reconcile"
        with_evidence = rec.Fakes(
            outcome=rec.output(
                review=2,
                items=[
                    rec.evidence("payout-history-p1", finding_id="rf_history_p1"),
                    rec.evidence("payout-history-p2", status=LineStatus.FAILED),
                    rec.evidence("payout-history-gone", finding_id="rf_history_gone"),
                    rec.evidence("evil-history", finding_id="rf_history_evil"),
                    rec.evidence(
                        "payout-history-r1", kind=LineKind.REFUND, finding_id="rf_history_r1"
                    ),
                ],
            )
        )
        paths = {
            "evidence-alert": (with_evidence, "history"),
            "clean": (rec.Fakes(), "historyclean"),
            "report-invalid": (rec.Fakes(fail="invalid"), "historybad"),
        }
        for name, (fakes, provider) in paths.items():
            req = rec.request(provider=provider, day=rec.DAY)
            async with rec.worker(env, fakes, task_queue):
                waiting = {}
                if fakes is with_evidence:
                    waiting = await rec.targets(
                        env, task_queue, "payout-history-p1", "payout-history-p2"
                    )
                handle = await rec.start(env, req, task_queue)
                try:
                    result = await rec.beside_targets(env, handle)
                    log.info("%s: %s, evidence sent %s", name, result.status, result.evidence_sent)
                except WorkflowFailureError as exc:
                    log.info("%s: failed: %s", name, exc.cause)
                await rec.finish(env, waiting)
            await _write(env.client, req.workflow_id, f"reconcile-{version}-{name}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    temporal.run(record(sys.argv[1] if len(sys.argv) > 1 else "v1"))
