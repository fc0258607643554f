"""TemporalDeliverer's mapping of Temporal answers, against a fake client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.relay.delivery import DeliveryOutcome, DeliveryUnavailable, TemporalDeliverer


class FakeHandle:
    """Records signals; raises ``error`` when set."""

    def __init__(self, client: FakeClient) -> None:
        self._client = client

    async def signal(self, name: str, arg: Any, *, rpc_timeout: timedelta | None = None) -> None:
        self._client.signals.append((name, arg))
        if self._client.error is not None:
            raise self._client.error


class FakeClient:
    """The one method of ``temporalio.client.Client`` the deliverer uses."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.workflow_ids: list[str] = []
        self.signals: list[tuple[str, Any]] = []

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        self.workflow_ids.append(workflow_id)
        return FakeHandle(self)


def _event(reference: str = "payout-ABC") -> ProviderEvent:
    return ProviderEvent(
        provider="hub",
        event_id="evt-1",
        reference=reference,
        outcome=TransferOutcome.SUCCEEDED,
        provider_status="MR101",
    )


def _deliverer(fake: FakeClient) -> TemporalDeliverer:
    return TemporalDeliverer(cast(Client, fake))


async def test_signals_the_workflow_named_by_the_reference() -> None:
    fake = FakeClient()
    event = _event("payout-ABC_1.2:3")

    assert await _deliverer(fake).deliver(event) is DeliveryOutcome.DELIVERED
    assert fake.workflow_ids == ["payout-ABC_1.2:3"]
    assert fake.signals == [("provider_event", event)]


async def test_missing_or_finished_workflow_is_unmatched() -> None:
    fake = FakeClient(RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""))

    assert await _deliverer(fake).deliver(_event()) is DeliveryOutcome.UNMATCHED


@pytest.mark.parametrize(
    "error",
    [
        RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""),
        RPCError("deadline", RPCStatusCode.DEADLINE_EXCEEDED, b""),
        RuntimeError("Failed client connect: connection refused"),
        ConnectionResetError(),
    ],
    ids=["unavailable", "deadline", "lazy-connect", "reset"],
)
async def test_unreachable_temporal_is_unavailable(error: BaseException) -> None:
    with pytest.raises(DeliveryUnavailable):
        await _deliverer(FakeClient(error)).deliver(_event())


@pytest.mark.parametrize(
    "reference", ["ABC", "Payout-ABC", "payout-", "payout-../x", "payout-a b", "payout-" + "a" * 65]
)
async def test_foreign_reference_is_unmatched_without_calling_temporal(reference: str) -> None:
    fake = FakeClient()

    assert await _deliverer(fake).deliver(_event(reference)) is DeliveryOutcome.UNMATCHED
    assert fake.workflow_ids == []
