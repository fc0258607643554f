"""Histories recorded before encryption replay on workers that encrypt.

The codec passes a payload without the ``binary/encrypted`` encoding through unchanged,
so the recorded histories (unencrypted) replay with the engine's data converter, codec
and encoded failure attributes included, exactly as with the plain pydantic converter
(``tests/workflows/test_replay.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from payments_engine.runtime.codec import Keyring, engine_data_converter
from payments_engine.worker.main import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = sorted((Path(__file__).parents[1] / "workflows" / "histories").glob("*.json"))


def test_there_are_recorded_histories() -> None:
    assert len(HISTORIES) >= 5


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_unencrypted_history_replays_with_the_codec(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=engine_data_converter(Keyring.generate("current")),
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
