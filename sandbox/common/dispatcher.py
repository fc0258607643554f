"""The background scheduler of one simulator: resolves due transfers and delivers webhooks.

Every attempt is signed afresh with the provider's signature scheme (a new timestamp;
the delivery's id is the message id), so a retry hours later still passes the receiver's
tolerance check. Connection errors, timeouts and any non-2xx answer count as a failed
attempt; the store's outbox decides whether and when it is retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import httpx

from payments_engine.domain.webhooks import SignatureScheme
from payments_engine.sandbox.common.outbox import Delivery

logger = logging.getLogger(__name__)


class DispatchSource(Protocol):
    """What the dispatcher needs of a store."""

    def advance(self) -> Sequence[object]:
        """Apply the planned steps that are due."""
        ...

    def claim_due_deliveries(self) -> list[Delivery]:
        """The deliveries due for an attempt, marked in flight."""
        ...

    def release(self, delivery: Delivery) -> None:
        """Put back a claimed delivery whose attempt was cancelled."""
        ...

    def record_attempt(
        self, delivery: Delivery, *, http_status: int | None, error: str | None
    ) -> None:
        """Record the outcome of one attempt."""
        ...


class WebhookDispatcher:
    """Runs the scheduler loop of one simulator and the webhook deliveries it starts.

    Args:
        store: the state to advance and whose outbox to deliver.
        client: the HTTP client deliveries go through; the dispatcher never closes it.
        scheme: the provider's webhook signature scheme.
        secret: the webhook secret deliveries are signed with.
        timeout_seconds: per-attempt timeout.
        tick_seconds: period of the scheduler loop.
        name: names the loop's task and log lines.
        wall_time: Unix seconds, for the signature timestamps.
    """

    def __init__(
        self,
        store: DispatchSource,
        client: httpx.AsyncClient,
        *,
        scheme: SignatureScheme,
        secret: str,
        timeout_seconds: float,
        tick_seconds: float,
        name: str = "sandbox",
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        """Prepare, without starting anything."""
        self._store = store
        self._client = client
        self._scheme = scheme
        self._secret = secret
        self._timeout = timeout_seconds
        self._tick_seconds = tick_seconds
        self._name = name
        self._wall_time = wall_time
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start the scheduler loop on the running event loop."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name=f"{self._name}-scheduler")

    async def aclose(self) -> None:
        """Stop the loop and abandon deliveries in flight, waiting until they have stopped."""
        tasks = list(self._deliveries)
        if self._loop_task is not None:
            tasks.append(self._loop_task)
            self._loop_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def cancel_deliveries(self) -> None:
        """Abandon the deliveries in flight (after an admin reset)."""
        for task in list(self._deliveries):
            task.cancel()

    def tick(self) -> None:
        """Resolve the transfers that are due and start the deliveries that are due."""
        self._store.advance()
        for delivery in self._store.claim_due_deliveries():
            task = asyncio.create_task(self.deliver(delivery), name=delivery.delivery_id)
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                # One bad tick must not stop every later transfer and webhook.
                logger.exception("%s scheduler tick failed", self._name)
            await asyncio.sleep(self._tick_seconds)

    def headers(self, delivery: Delivery) -> dict[str, str]:
        """The headers of one attempt: content type and a fresh signature."""
        signature = self._scheme.sign(
            self._secret,
            msg_id=delivery.delivery_id,
            timestamp=int(self._wall_time()),
            body=delivery.body,
        )
        return {"Content-Type": "application/json", **signature}

    async def deliver(self, delivery: Delivery) -> None:
        """Make one attempt at a claimed delivery and record its outcome in the store."""
        http_status: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(
                delivery.url,
                content=delivery.body,
                headers=self.headers(delivery),
                timeout=self._timeout,
            )
        except asyncio.CancelledError:
            self._store.release(delivery)
            raise
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        except Exception as exc:
            # Whatever the receiver's side does, the delivery must not stay claimed.
            logger.exception("%s webhook delivery %s crashed", self._name, delivery.delivery_id)
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            http_status = response.status_code
            if not response.is_success:
                error = f"HTTP {http_status}"
        self._store.record_attempt(delivery, http_status=http_status, error=error)
        level = logging.DEBUG if error is None else logging.INFO
        logger.log(
            level,
            "%s webhook %s for %s attempt %d: %s",
            self._name,
            delivery.event_id,
            delivery.reference,
            delivery.attempts,
            error or f"HTTP {http_status}",
        )
