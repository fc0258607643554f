"""Synchronous card authorizations: the card's workflow answers through an Update.

The relay's ``POST /authorizations/{provider}`` hands each verified request to
:class:`TemporalAuthorizer`, which sends the ``authorize`` Update to ``card-{id}`` with
the authorization id as the Update id (a network retry is the same Update) and waits no
longer than the relay's budget. When no answer comes in time (worker down, Temporal
away) the relay answers the default decline itself and records a stand-in; the Update
it sent carries ``respond_by``, so if it reaches the card later the card declines it too
and places no hold.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.domain.card import AuthorizationDecision, AuthorizationRequest

UPDATE_NAME = "authorize"
# A continue-as-new can close the run between our Update and its acceptance: the next
# attempt reaches the new run. Beyond a few, the card is simply not there.
MAX_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.02


class AuthorizationOutcome(StrEnum):
    """How an authorization request ended, besides an answer from the card."""

    ANSWERED = "answered"
    NO_CARD = "no_card"
    """No running card has that reference: never issued, or closed for good."""
    REFUSED = "refused"
    """The card's validator refused the request."""
    UNAVAILABLE = "unavailable"
    """The card could not answer in time: the relay stands in."""


class CardAuthorizer(Protocol):
    """Asks a card for its decision."""

    async def authorize(
        self, reference: str, request: AuthorizationRequest, budget_seconds: float
    ) -> tuple[AuthorizationOutcome, AuthorizationDecision | None]:
        """The card's decision within ``budget_seconds``, or why there is none."""
        ...


class TemporalAuthorizer:
    """Sends the ``authorize`` Update to the card's workflow.

    The client must use the pydantic data converter (and the payload codec) the workers use.
    """

    def __init__(self, client: Client) -> None:
        """Wrap a connected (or lazy) client."""
        self._client = client

    async def authorize(
        self, reference: str, request: AuthorizationRequest, budget_seconds: float
    ) -> tuple[AuthorizationOutcome, AuthorizationDecision | None]:
        """Ask ``reference``'s workflow; never wait past ``budget_seconds``."""
        try:
            return await asyncio.wait_for(
                self._ask(reference, request, budget_seconds), budget_seconds
            )
        except TimeoutError:
            return AuthorizationOutcome.UNAVAILABLE, None

    async def _ask(
        self, reference: str, request: AuthorizationRequest, budget_seconds: float
    ) -> tuple[AuthorizationOutcome, AuthorizationDecision | None]:
        handle = self._client.get_workflow_handle(reference)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                decision = await handle.execute_update(
                    UPDATE_NAME,
                    request,
                    id=request.authorization_id,
                    result_type=AuthorizationDecision,
                    rpc_timeout=timedelta(seconds=budget_seconds),
                )
            except WorkflowUpdateFailedError:
                return AuthorizationOutcome.REFUSED, None
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                return AuthorizationOutcome.UNAVAILABLE, None
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    return AuthorizationOutcome.UNAVAILABLE, None
                if attempt == MAX_ATTEMPTS:
                    return AuthorizationOutcome.NO_CARD, None
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            except (RuntimeError, OSError):
                # A lazy client that cannot connect raises RuntimeError("Failed client connect").
                return AuthorizationOutcome.UNAVAILABLE, None
            return AuthorizationOutcome.ANSWERED, decision
        return AuthorizationOutcome.NO_CARD, None
