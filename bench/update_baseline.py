"""The floor of ``card_authorization.py``: a bare Temporal Update round trip.

A workflow that answers an Update with its argument and does nothing else, in a module
of its own for the same reason as ``baseline.py``: the workflow sandbox re-imports a
workflow's module for every new workflow.
"""

from __future__ import annotations

from temporalio import workflow


@workflow.defn
class UpdateEchoWorkflow:
    """Answers ``echo`` Updates until told to stop."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        """Wait for ``stop``."""
        await workflow.wait_condition(lambda: self._done)

    @workflow.update
    def echo(self, value: str) -> str:
        """Answer at once, as a card answers an authorization."""
        return value

    @workflow.signal
    def stop(self) -> None:
        """End the workflow."""
        self._done = True
