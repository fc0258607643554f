"""The relay's ASGI app: ``POST /webhooks/{provider}``, ``POST /authorizations/{provider}``
and ``GET /healthz``.

Each webhook goes through, in order: provider lookup (404), size limit (413), signature
over the raw bytes (401), parsing (400), durable storage deduplicated by event id and body
hash (503 when the database fails; 409 for another body under a stored event id, kept for
audit and never delivered) and delivery to the workflow (503 when Temporal is away). The
provider retries anything answered 5xx, so an event is never acknowledged before it is
stored; what is delivered is always the stored copy.

While the app runs (its lifespan), a :class:`~relay.redelivery.Redeliverer` redelivers
stored events whose delivery failed, so an event answered 503 reaches its workflow once
Temporal is back even if the provider never sends it again.

``POST /authorizations/{provider}`` answers an issuer's synchronous card authorization:
the same provider lookup, size limit and signature check, then the card's workflow
decides through an Update (:mod:`relay.authorizations`) within the issuer's deadline
less a margin. When the card cannot answer in time the relay answers the default
(decline, ``issuer_timeout``) itself and stores a stand-in record, delivered to the card
like a webhook (and redelivered until it is), so the card's holds agree with what the
network was told.

Logs name only the provider, event id, reference and outcome: bodies carry personal data
and the secrets must never leave the config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import ClientDisconnect

from payments_engine.activities.providers.base import MalformedEvent, ProviderSpec
from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.domain.card import (
    STAND_IN_EVENT,
    STAND_IN_EVENT_PREFIX,
    AuthorizationDecision,
    DeclineReason,
    StandIn,
)
from payments_engine.domain.events import ProviderEvent
from payments_engine.domain.webhooks import SignatureError
from payments_engine.relay.authorizations import AuthorizationOutcome, CardAuthorizer
from payments_engine.relay.config import RelayConfig
from payments_engine.relay.delivery import DeliveryUnavailable, EventDeliverer
from payments_engine.relay.redelivery import Redeliverer
from payments_engine.relay.store import (
    DATABASE_ERRORS,
    Arrival,
    Backoff,
    EventState,
    EventStore,
    body_digest,
    settled_state,
)

logger = logging.getLogger(__name__)

# How much of a body hash a log line shows: enough to tell copies apart when auditing.
_HASH_PREFIX = 12


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
    providers: Mapping[str, ProviderSpec] = PROVIDERS,
    authorizer: CardAuthorizer | None = None,
) -> FastAPI:
    """Build the relay app; its lifespan runs the redelivery loop.

    Args:
        config: provider secrets, signature tolerance, body size limit and redelivery.
        sessions: sessions on the database holding ``webhook_events``.
        deliverer: hands verified events to their workflows.
        clock: unix seconds now; signatures are checked and rows stamped against it.
        providers: the registry the relay takes each provider's signature scheme and
            webhook translator from; a provider is served once it also has a secret.
        authorizer: asks cards for authorization decisions; None serves no
            ``/authorizations`` (404).

    Returns:
        The FastAPI application; ``app.state.redeliverer`` is its redelivery loop and
        ``app.state.deliverer`` the deliverer.
    """
    store = EventStore(
        sessions,
        clock,
        Backoff(config.redelivery_initial_backoff_seconds, config.redelivery_max_backoff_seconds),
        timedelta(seconds=config.redelivery_lease_seconds),
    )
    redeliverer = Redeliverer(
        store,
        deliverer,
        {name: spec.translate for name, spec in providers.items()},
        poll_seconds=config.redelivery_poll_seconds,
        batch_size=config.redelivery_batch_size,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # In the lifespan, so whatever serves the app (payments dev, payments relay,
        # uvicorn) runs the outbox with it and stops it before the process exits.
        redeliverer.start()
        try:
            yield
        finally:
            # Stand-ins being stored finish first: each is what a network was told.
            if stand_ins:
                await asyncio.wait(stand_ins, timeout=5)
            await redeliverer.stop()

    # No interactive docs: the relay faces the internet and only providers call it.
    app = FastAPI(
        title="payments webhook relay",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.redeliverer = redeliverer
    stand_ins: set[asyncio.Task[None]] = set()
    app.state.stand_ins = stand_ins
    # Read from the app at each request, never closed over: FastAPI caches route
    # functions in module-level caches, and a closure would keep the deliverer's Temporal
    # client (and so the SDK runtime's threads) alive until the interpreter exits.
    app.state.deliverer = deliverer
    app.state.authorizer = authorizer

    async def deliver(request: Request, provider: str, event: ProviderEvent) -> JSONResponse:
        """Deliver a stored event, record the attempt and answer the provider."""
        log_args = (provider, event.event_id, event.reference)
        current: EventDeliverer = request.app.state.deliverer
        try:
            outcome = await current.deliver(event)
        except DeliveryUnavailable:
            logger.warning(
                "webhook stored, delivery unavailable: provider=%s event=%r reference=%r", *log_args
            )
            await store.record_attempt(provider, event.event_id, None)
            return _error(503, "delivery unavailable")

        result = settled_state(outcome)
        await store.record_attempt(provider, event.event_id, result)
        logger.info("webhook %s: provider=%s event=%r reference=%r", result.value, *log_args)
        if result is EventState.DELIVERED:
            return _status(200, "delivered")
        return _status(202, "unmatched")

    @app.post("/webhooks/{provider}")
    async def receive_webhook(provider: str, request: Request) -> JSONResponse:
        """Verify, store and deliver one provider webhook."""
        secret = config.secrets.get(provider)
        spec = providers.get(provider)
        if secret is None or spec is None:
            return _error(404, "unknown provider")
        parser = spec.translate

        try:
            body = await _read_body(request, config.max_body_bytes)
        except _BodyTooLarge:
            logger.warning(
                "webhook refused: provider=%s body over %d bytes", provider, config.max_body_bytes
            )
            return _error(413, "body too large")
        except ValueError:
            return _error(400, "invalid content-length")
        except ClientDisconnect:
            # Nothing was verified, nothing is stored; the provider will send it again.
            # No one is left to read the answer below.
            logger.warning("webhook abandoned: provider=%s client disconnected mid-body", provider)
            return _error(400, "client disconnected")

        try:
            signed_at = spec.signature.verify(
                secret.get_secret_value(),
                request.headers,
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

        if event.provider_status == STAND_IN_EVENT or event.event_id.startswith(
            STAND_IN_EVENT_PREFIX
        ):
            # Only the relay writes stand-ins; a provider cannot send one.
            logger.warning("webhook refused: provider=%s stand-in record from outside", provider)
            return _error(400, "malformed event")

        log_args = (provider, event.event_id, event.reference)
        try:
            stored = await store.store(provider, event.event_id, event.reference, signed_at, body)
        except DATABASE_ERRORS as exc:
            logger.error(
                "webhook not stored: provider=%s event=%r reference=%r (%s)",
                *log_args,
                type(exc).__name__,
            )
            return _error(503, "cannot store event")

        if stored.arrival is Arrival.NEW:
            return await deliver(request, provider, event)
        if stored.arrival is Arrival.DUPLICATE:
            logger.info("webhook duplicate: provider=%s event=%r reference=%r", *log_args)
            return _status(200, "duplicate")
        if stored.arrival is Arrival.CONFLICT:
            logger.warning(
                "webhook conflict: provider=%s event=%r reference=%r body sha256 %s... differs "
                "from the stored %s...; kept for audit, not delivered",
                *log_args,
                body_digest(body)[:_HASH_PREFIX],
                stored.body_sha256[:_HASH_PREFIX],
            )
            return _error(409, "conflicting event")

        # An exact repeat of an event not delivered yet (the provider retries after our
        # 503): deliver the stored copy, parsed afresh, never the request's.
        try:
            stored_event = parser(stored.raw_body)
        except MalformedEvent as exc:
            logger.error(
                "webhook stored but unreadable: provider=%s event=%r reference=%r (%s)",
                *log_args,
                exc,
            )
            return _error(500, "stored event unreadable")
        return await deliver(request, provider, stored_event)

    async def record_stand_in(
        deliverer: EventDeliverer, provider: str, stand_in: StandIn, signed_at: int
    ) -> None:
        """Store what the relay told the network for a card, then tell the card."""
        body = stand_in.model_dump_json().encode()
        log_args = (provider, stand_in.card_reference, stand_in.authorization_id)
        try:
            stored = await store.store(
                provider, stand_in.event_id, stand_in.card_reference, signed_at, body
            )
        except DATABASE_ERRORS as exc:
            logger.error(
                "stand-in not stored: provider=%s card=%s authorization=%s (%s)",
                *log_args,
                type(exc).__name__,
            )
            return
        if stored.arrival not in (Arrival.NEW, Arrival.UNDELIVERED):
            return
        try:
            outcome = await deliverer.deliver(stand_in.event(provider))
        except DeliveryUnavailable:
            # Stored: the redelivery loop hands it to the card once Temporal is back.
            await store.record_attempt(provider, stand_in.event_id, None)
            return
        await store.record_attempt(provider, stand_in.event_id, settled_state(outcome))

    @app.post("/authorizations/{provider}")
    async def authorize(provider: str, request: Request) -> JSONResponse:
        """Verify an issuer's authorization request and answer the card's decision in time."""
        started = time.perf_counter()
        secret = config.secrets.get(provider)
        spec = providers.get(provider)
        # From the app, like the deliverer: a closure would keep its Temporal client alive.
        current_authorizer: CardAuthorizer | None = request.app.state.authorizer
        if (
            secret is None
            or spec is None
            or spec.authorizations is None
            or current_authorizer is None
        ):
            return _error(404, "unknown provider")
        codec = spec.authorizations
        try:
            body = await _read_body(request, config.max_body_bytes)
        except _BodyTooLarge:
            return _error(413, "body too large")
        except ValueError:
            return _error(400, "invalid content-length")
        except ClientDisconnect:
            return _error(400, "client disconnected")
        now = clock()
        try:
            signed_at = spec.signature.verify(
                secret.get_secret_value(),
                request.headers,
                body,
                now=now,
                tolerance=config.tolerance_seconds,
            )
        except SignatureError as exc:
            logger.warning("authorization refused: provider=%s bad signature (%s)", provider, exc)
            return _error(401, "invalid signature")
        try:
            reference, auth = codec.parse(body)
        except MalformedEvent as exc:
            logger.warning("authorization refused: provider=%s malformed (%s)", provider, exc)
            return _error(400, "malformed request")

        deadline = (
            auth.respond_by.timestamp()
            if auth.respond_by is not None
            else now + config.authorization_default_deadline_seconds
        )
        ours = deadline - config.authorization_margin_seconds
        auth = auth.model_copy(update={"respond_by": datetime.fromtimestamp(ours, UTC)})
        budget = ours - clock()
        outcome, decision = AuthorizationOutcome.UNAVAILABLE, None
        if budget > 0:
            outcome, decision = await current_authorizer.authorize(reference, auth, budget)
        if outcome is not AuthorizationOutcome.ANSWERED or decision is None:
            reason = {
                AuthorizationOutcome.NO_CARD: DeclineReason.CARD_INACTIVE,
                AuthorizationOutcome.REFUSED: DeclineReason.INVALID_REQUEST,
            }.get(outcome, DeclineReason.ISSUER_TIMEOUT)
            decision = AuthorizationDecision.decline(auth, reason)
            if outcome is AuthorizationOutcome.UNAVAILABLE:
                stand_in = StandIn(
                    card_reference=reference,
                    authorization_id=auth.authorization_id,
                    amount=auth.amount,
                )
                task = asyncio.create_task(
                    record_stand_in(request.app.state.deliverer, provider, stand_in, signed_at)
                )
                stand_ins.add(task)
                task.add_done_callback(stand_ins.discard)
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "authorization %s: provider=%s card=%s authorization=%s%s in %.1f ms (%s)",
            "approved" if decision.approved else "declined",
            provider,
            reference,
            auth.authorization_id,
            "" if decision.decline_reason is None else f" reason={decision.decline_reason.value}",
            elapsed_ms,
            outcome.value,
        )
        return JSONResponse(codec.answer(decision))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """Report whether the database answers, and the backlog of undelivered events."""
        try:
            backlog = await store.backlog()
        except DATABASE_ERRORS as exc:
            logger.error("health check: database unavailable (%s)", type(exc).__name__)
            return _status(503, "unavailable")
        oldest_seconds = 0.0
        if backlog.oldest_received_at is not None:
            age = store.now() - backlog.oldest_received_at
            oldest_seconds = round(max(age.total_seconds(), 0.0), 3)
        return JSONResponse(
            {
                "status": "ok",
                "undelivered": backlog.undelivered,
                "oldest_undelivered_seconds": oldest_seconds,
                "conflicts": backlog.conflicts,
            }
        )

    return app
