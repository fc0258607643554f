"""The sandbox's background scheduler: resolves due transfers and delivers webhooks.

Every attempt is signed afresh (a new timestamp), so a retry hours later still passes the
receiver's tolerance check. Connection errors, timeouts and any non-2xx answer count as
a failed attempt and are retried after the configured delays.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from payments_engine.domain.webhooks import SIGNATURE_HEADER, sign
from payments_engine.sandbox.config import SandboxConfig
from payments_engine.sandbox.store import Delivery, HubStore

logger = logging.getLogger(__name__)


class WebhookDispatcher:
    """Runs the scheduler loop of one sandbox and the webhook deliveries it starts.

    Args:
        store: the hub state to advance and whose outbox to deliver.
        config: the sandbox configuration (webhook URL, secret, timings).
        client: the HTTP client deliveries go through; the dispatcher never closes it.
        wall_time: Unix seconds, for the signature timestamps.
    """

    def __init__(
        self,
        store: HubStore,
        config: SandboxConfig,
        client: httpx.AsyncClient,
        *,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        """Prepare, without starting anything."""
        self._store = store
        self._config = config
        self._client = client
        self._wall_time = wall_time
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start the scheduler loop on the running event loop."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="sandbox-scheduler")

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
                logger.exception("sandbox scheduler tick failed")
            await asyncio.sleep(self._config.tick_seconds)

    async def deliver(self, delivery: Delivery) -> None:
        """Make one attempt at a claimed delivery and record its outcome in the store."""
        url = self._config.webhook_url
        if url is None:
            self._store.record_attempt(delivery, http_status=None, error="no webhook_url")
            return
        timestamp = int(self._wall_time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._config.webhook_secret, timestamp, delivery.body),
        }
        http_status: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(
                url,
                content=delivery.body,
                headers=headers,
                timeout=self._config.webhook_timeout_seconds,
            )
        except asyncio.CancelledError:
            self._store.release(delivery)
            raise
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        except Exception as exc:
            # Whatever the receiver's side does, the delivery must not stay claimed.
            logger.exception("webhook delivery %s crashed", delivery.delivery_id)
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            http_status = response.status_code
            if not response.is_success:
                error = f"HTTP {http_status}"
        self._store.record_attempt(delivery, http_status=http_status, error=error)
        level = logging.DEBUG if error is None else logging.INFO
        logger.log(
            level,
            "webhook %s for %s attempt %d: %s",
            delivery.event_id,
            delivery.third_party_trans_id,
            delivery.attempts,
            error or f"HTTP {http_status}",
        )
