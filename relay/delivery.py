"""Delivery of provider events to their workflows as Temporal signals."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.domain.events import ProviderEvent

SIGNAL_NAME = "provider_event"
DEFAULT_RPC_TIMEOUT = timedelta(seconds=5)

# Our workflow ids: a lowercase kind prefix ("payout-") and a business id. Anything else
# cannot name one of our workflows, so it is not worth a round trip to Temporal.
_WORKFLOW_ID = re.compile(r"^[a-z][a-z-]*-[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class DeliveryOutcome(StrEnum):
    """What became of an event handed to a workflow."""

    DELIVERED = "delivered"
    UNMATCHED = "unmatched"
    """No running workflow has the event's reference as its id."""


class DeliveryUnavailable(Exception):
    """Temporal cannot be reached now; the provider should retry the webhook."""


class EventDeliverer(Protocol):
    """Hands provider events to the workflows they are about."""

    async def deliver(self, event: ProviderEvent) -> DeliveryOutcome:
        """Deliver ``event`` to the workflow named by its reference.

        Raises:
            DeliveryUnavailable: delivery could not be attempted or confirmed now.
        """
        ...


class TemporalDeliverer:
    """Signals ``provider_event`` to the workflow whose id is the event's reference.

    The client must use the pydantic data converter, as the workers do, so the signal
    carries a :class:`ProviderEvent`.
    """

    def __init__(self, client: Client, rpc_timeout: timedelta = DEFAULT_RPC_TIMEOUT) -> None:
        """Wrap a connected (or lazy) client.

        Args:
            client: the Temporal client.
            rpc_timeout: per-signal limit, kept short so the provider gets an answer
                within its acknowledgement window (Adyen: 10 s).
        """
        self._client = client
        self._rpc_timeout = rpc_timeout

    async def deliver(self, event: ProviderEvent) -> DeliveryOutcome:
        """Signal the event's workflow.

        Returns:
            DELIVERED once Temporal accepted the signal; UNMATCHED when the reference is
            not one of our workflow ids, or no such workflow is running.

        Raises:
            DeliveryUnavailable: Temporal refused for another reason or is unreachable.
        """
        if not _WORKFLOW_ID.match(event.reference):
            return DeliveryOutcome.UNMATCHED
        handle = self._client.get_workflow_handle(event.reference)
        try:
            await handle.signal(SIGNAL_NAME, event, rpc_timeout=self._rpc_timeout)
        except RPCError as exc:
            # NOT_FOUND covers both "never started" and "already completed".
            if exc.status == RPCStatusCode.NOT_FOUND:
                return DeliveryOutcome.UNMATCHED
            raise DeliveryUnavailable(f"signal failed: {exc.status.name}") from exc
        except (RuntimeError, OSError, TimeoutError) as exc:
            # A lazy client that cannot connect raises RuntimeError("Failed client connect").
            raise DeliveryUnavailable(f"cannot reach Temporal: {type(exc).__name__}") from exc
        return DeliveryOutcome.DELIVERED
