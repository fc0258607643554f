"""The relay's ASGI app: ``POST /webhooks/{provider}`` and ``GET /healthz``.

Each webhook goes through, in order: provider lookup (404), size limit (413), signature
over the raw bytes (401), parsing (400), durable storage deduplicated by event id (503
when the database fails) and delivery to the workflow (503 when Temporal is away). The
provider retries anything answered 5xx, so an event is never acknowledged before it is
stored.

Logs name only the provider, event id, reference and outcome: bodies carry personal data
and the secrets must never leave the config.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import WebhookEvent
from domain.events import ProviderEvent
from domain.webhooks import SIGNATURE_HEADER, SignatureError, verify
from relay.config import RelayConfig
from relay.delivery import DeliveryOutcome, DeliveryUnavailable, EventDeliverer
from relay.providers import PARSERS, MalformedEvent

logger = logging.getLogger(__name__)

# SQLAlchemy errors quote the statement's parameters (the raw body) in their message, so
# handlers log only the exception's type name.
_DATABASE_ERRORS = (SQLAlchemyError, OSError)


class EventState(StrEnum):
    """Values of ``webhook_events.state``."""

    RECEIVED = "received"
    DELIVERED = "delivered"
    UNMATCHED = "unmatched"


_FINAL_STATES = frozenset({EventState.DELIVERED, EventState.UNMATCHED})


class _BodyTooLarge(Exception):
    """The request body is longer than the configured limit."""


def _status(code: int, status: str) -> JSONResponse:
    return JSONResponse({"status": status}, status_code=code)


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=code)


async def _read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing it as soon as it is known to exceed ``limit`` bytes.

    Raises:
        _BodyTooLarge: the declared or the actual length is over the limit.
        ValueError: the Content-Length header is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) > limit:
        raise _BodyTooLarge
    body = bytearray()
    # Stream rather than ``await request.body()`` so a chunked upload with no (or a lying)
    # Content-Length cannot make us buffer more than the limit.
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _BodyTooLarge
    return bytes(body)


def create_relay_app(
    config: RelayConfig,
    sessions: async_sessionmaker[AsyncSession],
    deliverer: EventDeliverer,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the relay app.

    Args:
        config: provider secrets, signature tolerance and body size limit.
        sessions: sessions on the database holding ``webhook_events``.
        deliverer: hands verified events to their workflows.
        clock: unix seconds now; signatures are checked and rows stamped against it.

    Returns:
        The FastAPI application.
    """
    # No interactive docs: the relay faces the internet and only providers call it.
    app = FastAPI(title="payments webhook relay", docs_url=None, redoc_url=None, openapi_url=None)

    def now() -> datetime:
        return datetime.fromtimestamp(clock(), UTC)

    async def store(provider: str, event: ProviderEvent, signed_at: int, body: bytes) -> str:
        """Insert the event, or find the row an earlier delivery stored; return its state."""
        try:
            async with sessions.begin() as session:
                session.add(
                    WebhookEvent(
                        provider=provider,
                        event_id=event.event_id,
                        reference=event.reference,
                        state=EventState.RECEIVED.value,
                        signature_timestamp=signed_at,
                        raw_body=body,
                        received_at=now(),
                        delivery_attempts=0,
                    )
                )
            return EventState.RECEIVED.value
        except IntegrityError:
            # The unique (provider, event_id) is the dedupe, and inserting first is what
            # makes two concurrent copies of a webhook safe: the loser lands here.
            pass
        async with sessions() as session:
            state = await session.scalar(
                select(WebhookEvent.state).where(
                    WebhookEvent.provider == provider, WebhookEvent.event_id == event.event_id
                )
            )
        if state is None:
            # Rows are never deleted, so a conflict without a row is not a duplicate.
            raise SQLAlchemyError("webhook event conflicted but cannot be found")
        return state

    async def record_attempt(provider: str, event_id: str, result: EventState | None) -> None:
        """Count a delivery attempt and, when it settled, move the row to ``result``.

        Bookkeeping only, so a database failure is logged, not raised: the event is
        stored already, and if it reached its workflow the row stays "received" and a
        later re-delivery is dropped by the workflow, which dedupes by event id.
        """
        try:
            await _record_attempt(provider, event_id, result)
        except _DATABASE_ERRORS as exc:
            logger.error(
                "delivery attempt not recorded: provider=%s event=%r (%s)",
                provider,
                event_id,
                type(exc).__name__,
            )

    async def _record_attempt(provider: str, event_id: str, result: EventState | None) -> None:
        this_event = (WebhookEvent.provider == provider, WebhookEvent.event_id == event_id)
        async with sessions.begin() as session:
            await session.execute(
                update(WebhookEvent)
                .where(*this_event)
                .values(delivery_attempts=WebhookEvent.delivery_attempts + 1)
            )
            if result is None:
                return
            # A concurrent copy of the webhook may have settled the row already. Delivered
            # wins: a copy that found the workflow closed (unmatched) may finish before the
            # copy that signalled it, and must not hide that the event was delivered.
            if result is EventState.DELIVERED:
                settled = (
                    update(WebhookEvent)
                    .where(
                        *this_event,
                        WebhookEvent.state.in_(
                            [EventState.RECEIVED.value, EventState.UNMATCHED.value]
                        ),
                    )
                    .values(state=result.value, delivered_at=now())
                )
            else:
                settled = (
                    update(WebhookEvent)
                    .where(*this_event, WebhookEvent.state == EventState.RECEIVED.value)
                    .values(state=result.value)
                )
            await session.execute(settled)

    @app.post("/webhooks/{provider}")
    async def receive_webhook(provider: str, request: Request) -> JSONResponse:
        """Verify, store and deliver one provider webhook."""
        secret = config.secrets.get(provider)
        parser = PARSERS.get(provider)
        if secret is None or parser is None:
            return _error(404, "unknown provider")

        try:
            body = await _read_body(request, config.max_body_bytes)
        except _BodyTooLarge:
            logger.warning(
                "webhook refused: provider=%s body over %d bytes", provider, config.max_body_bytes
            )
            return _error(413, "body too large")
        except ValueError:
            return _error(400, "invalid content-length")

        try:
            signed_at = verify(
                secret.get_secret_value(),
                request.headers.get(SIGNATURE_HEADER),
                body,
                now=clock(),
                tolerance=config.tolerance_seconds,
            )
        except SignatureError as exc:
            # The reason is one of our fixed messages; it never contains header or body.
            logger.warning("webhook refused: provider=%s bad signature (%s)", provider, exc)
            return _error(401, "invalid signature")

        try:
            event = parser(body)
        except MalformedEvent as exc:
            logger.warning("webhook refused: provider=%s malformed (%s)", provider, exc)
            return _error(400, "malformed event")

        log_args = (provider, event.event_id, event.reference)
        try:
            state = await store(provider, event, signed_at, body)
        except _DATABASE_ERRORS as exc:
            logger.error(
                "webhook not stored: provider=%s event=%r reference=%r (%s)",
                *log_args,
                type(exc).__name__,
            )
            return _error(503, "cannot store event")
        if state in _FINAL_STATES:
            logger.info(
                "webhook duplicate: provider=%s event=%r reference=%r state=%s", *log_args, state
            )
            return _status(200, "duplicate")

        try:
            outcome = await deliverer.deliver(event)
        except DeliveryUnavailable:
            logger.warning(
                "webhook stored, delivery unavailable: provider=%s event=%r reference=%r", *log_args
            )
            await record_attempt(provider, event.event_id, None)
            return _error(503, "delivery unavailable")

        result = (
            EventState.DELIVERED if outcome == DeliveryOutcome.DELIVERED else EventState.UNMATCHED
        )
        await record_attempt(provider, event.event_id, result)
        logger.info("webhook %s: provider=%s event=%r reference=%r", result.value, *log_args)
        if result is EventState.DELIVERED:
            return _status(200, "delivered")
        return _status(202, "unmatched")

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """Report whether the database answers."""
        try:
            async with sessions() as session:
                await session.execute(text("SELECT 1"))
        except _DATABASE_ERRORS as exc:
            logger.error("health check: database unavailable (%s)", type(exc).__name__)
            return _status(503, "unavailable")
        return _status(200, "ok")

    return app
