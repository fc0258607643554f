"""What a workflow was started with, read back from its history by the client.

A create that finds the workflow already there compares the caller's request with the
recorded one: the same request is the same payment, another one is a reused id.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

M = TypeVar("M", bound=BaseModel)


async def started_with(
    temporal: Client, workflow_id: str, model: type[M], run_id: str | None = None
) -> M | None:
    """The input the workflow (its first run, or ``run_id``) was started with.

    Decoded in memory with the client's converter and codec; nothing is logged.

    Returns:
        None when there is no such workflow.
    """
    handle = temporal.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        async for event in handle.fetch_history_events(page_size=1):
            started = event.workflow_execution_started_event_attributes
            decoded = await temporal.data_converter.decode(started.input.payloads, [model])
            return decoded[0] if decoded else None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return None
