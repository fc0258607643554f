"""The card network's synchronous authorization request: ask the engine, wait, decide.

The network POSTs :class:`~.wire.AuthorizationRequest` to the engine's authorization URL,
signed with Standard Webhooks (the authorization id is the message id), and waits at most
the deadline for :class:`~.wire.AuthorizationAnswer`. It takes the engine's answer only
when it is a 200 with a well-formed answer to this very request, in time; otherwise it
declines on its own (``issuer_timeout`` when no answer came in time, ``issuer_error``
when the answer was wrong), like a network standing in for an issuer that failed it.

Latency runs from sending the request to having its answer (or to giving up at the
deadline). Log lines name the authorization, never the card's number or its holder.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import ValidationError

from payments_engine.domain.webhooks import SignatureScheme
from payments_engine.sandbox.issuer.records import Decision
from payments_engine.sandbox.issuer.wire import (
    AnsweredBy,
    AuthorizationAnswer,
    AuthorizationRequest,
    AuthorizationResult,
    Merchant,
    NetworkDecline,
)

logger = logging.getLogger(__name__)


def network_decline(
    reason: NetworkDecline, latency_ms: float = 0.0, detail: str | None = None
) -> Decision:
    """A decline the network decides on its own."""
    return Decision(
        result=AuthorizationResult.DECLINED,
        approved_amount=0,
        decline_reason=reason.value,
        answered_by=AnsweredBy.NETWORK,
        latency_ms=latency_ms,
        answered_at=datetime.now(UTC),
        detail=detail,
    )


def authorization_request(
    *,
    authorization_id: str,
    card_token: str,
    card_reference: str,
    amount: int,
    currency: str,
    merchant: Merchant,
    partial_allowed: bool,
    deadline_seconds: float,
    now: datetime | None = None,
) -> AuthorizationRequest:
    """The request for one attempt: created now, to be answered by now + the deadline."""
    created = now or datetime.now(UTC)
    return AuthorizationRequest(
        authorization_id=authorization_id,
        card_token=card_token,
        card_reference=card_reference,
        amount=amount,
        currency=currency,
        merchant=merchant,
        partial_allowed=partial_allowed,
        respond_by=created + timedelta(seconds=deadline_seconds),
        created=created,
    )


def judge(request: AuthorizationRequest, status_code: int, content: bytes) -> str | None:
    """What is wrong with the engine's answer to ``request``; None if it can be taken."""
    if status_code != 200:
        return f"HTTP {status_code}"
    try:
        answer = AuthorizationAnswer.model_validate_json(content)
    except ValidationError as exc:
        fields = ", ".join(
            ".".join(str(part) for part in error["loc"]) or "<body>"
            for error in exc.errors(include_input=False, include_url=False)
        )
        return f"bad answer ({fields})"
    if answer.authorization_id != request.authorization_id:
        return "the answer names another authorization_id"
    if answer.result is AuthorizationResult.APPROVED:
        if answer.approved_amount <= 0:
            return "approved_amount is not positive"
        if answer.approved_amount > request.amount:
            return "approved_amount is above the amount"
        if answer.approved_amount < request.amount and not request.partial_allowed:
            return "a partial approval of a purchase that allows none"
    return None


async def ask_engine(
    client: httpx.AsyncClient,
    *,
    url: str,
    scheme: SignatureScheme,
    secret: str,
    request: AuthorizationRequest,
    deadline_seconds: float,
    wall_time: Callable[[], float] = time.time,
) -> Decision:
    """Send one authorization request and decide on the answer, within the deadline.

    Args:
        client: the HTTP client (the app's, whose webhooks use it too).
        url: the engine's authorization URL.
        scheme: how the request is signed (Standard Webhooks).
        secret: the secret it is signed with.
        request: what is asked.
        deadline_seconds: how long the network waits; a later answer is a decline.
        wall_time: Unix seconds, for the signature's timestamp.

    Returns:
        The engine's decision, or the network's decline when the engine did not answer
        well in time.
    """
    body = request.to_json()
    headers = {
        "Content-Type": "application/json",
        **scheme.sign(
            secret, msg_id=request.authorization_id, timestamp=int(wall_time()), body=body
        ),
    }
    started = time.perf_counter()
    problem: str | None = None
    response: httpx.Response | None = None
    try:
        # Both: httpx's timeout bounds each I/O step, this one the whole exchange (and
        # transports that ignore timeouts, like the tests' MockTransport).
        async with asyncio.timeout(deadline_seconds):
            response = await client.post(
                url, content=body, headers=headers, timeout=deadline_seconds
            )
    except (TimeoutError, httpx.TimeoutException):
        problem = "no answer before the deadline"
    except httpx.HTTPError as exc:
        problem = f"no answer: {type(exc).__name__}"
    except Exception as exc:
        # Whatever the transport does, the purchase must still be decided.
        logger.exception("issuer authorization %s: request crashed", request.authorization_id)
        problem = f"no answer: {type(exc).__name__}"
    elapsed = time.perf_counter() - started
    latency_ms = round(elapsed * 1000, 3)

    if response is None:
        decision = network_decline(NetworkDecline.ISSUER_TIMEOUT, latency_ms, problem)
    elif elapsed > deadline_seconds:
        decision = network_decline(
            NetworkDecline.ISSUER_TIMEOUT, latency_ms, "answered after the deadline"
        )
    elif (problem := judge(request, response.status_code, response.content)) is not None:
        decision = network_decline(NetworkDecline.ISSUER_ERROR, latency_ms, problem)
    else:
        answer = AuthorizationAnswer.model_validate_json(response.content)
        approved = answer.result is AuthorizationResult.APPROVED
        decision = Decision(
            result=answer.result,
            approved_amount=answer.approved_amount if approved else 0,
            decline_reason=None if approved else answer.decline_reason,
            answered_by=AnsweredBy.ENGINE,
            latency_ms=latency_ms,
            answered_at=datetime.now(UTC),
        )
    # The engine failing the network is worth a line; an ordinary decision is not.
    logger.log(
        logging.INFO if decision.detail else logging.DEBUG,
        "issuer authorization %s: %s by %s in %.1f ms%s",
        request.authorization_id,
        decision.result.value,
        decision.answered_by.value,
        decision.latency_ms,
        f" ({decision.detail})" if decision.detail else "",
    )
    return decision
