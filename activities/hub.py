"""Adapter of the mobile-wallet hub: submit a payout and ask for its status, over HTTP.

Exactly-once rests on two rules here:

* The hub dedupes by ``thirdPartyTransId``, which is our reference (the workflow id,
  derived from the payout id), so a resubmission can never create a second transfer.
* An ambiguous outcome (timeout, connection reset, 5xx after the request was sent) is
  never blindly resubmitted: the adapter asks the hub for the status by our reference,
  and only if the hub has no record does it let Temporal retry the submission. A retried
  attempt also starts with that status check.

Business refusals become non-retryable ``ApplicationError`` with a stable ``type``;
transient failures are retryable ones and Temporal backs off.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from payments_engine.domain.errors import (
    ProviderAuthError,
    ProviderConflict,
    ProviderRejected,
    ProviderUnavailable,
)
from payments_engine.domain.events import ProviderEvent, TransferOutcome, reported_amount
from payments_engine.domain.hub import (
    ACK_ACCEPTED,
    PROVIDER_NAME,
    HubAck,
    HubPayoutRequest,
    HubStatus,
    HubTransfer,
)
from payments_engine.domain.payout import (
    SubmitPayoutInput,
    SubmitPayoutResult,
    TransferStatusInput,
    TransferStatusResult,
)

PAYOUTS_PATH = "/v1/payouts"

CONFIRM_WEBHOOKS = True
"""The hub's webhook policy: a final status it announces by webhook is applied only once
its status API confirms it (a signed webhook proves who sent it, not that it is true)."""


def _business_error(
    error: type[ProviderRejected | ProviderConflict | ProviderAuthError], message: str
) -> ApplicationError:
    return ApplicationError(message, type=error.type, non_retryable=True)


def _transient(message: str) -> ApplicationError:
    """A failure Temporal retries, announced in one warning line without a traceback.

    BENIGN keeps the SDK from logging the expected failure again with its traceback
    ("Completing activity as failed"); unexpected exceptions keep theirs.
    """
    info = activity.info()
    activity.logger.warning(
        "%s attempt %d for %s will be retried: %s",
        info.activity_type,
        info.attempt,
        info.workflow_id,
        message,
    )
    return ApplicationError(
        message,
        type=ProviderUnavailable.type,
        non_retryable=False,
        category=ApplicationErrorCategory.BENIGN,
    )


def _report_from_transfer(transfer: HubTransfer) -> ProviderEvent:
    status = transfer.status
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=f"status:{transfer.transaction_id}:{status.value}",
        reference=transfer.third_party_trans_id,
        outcome=status.outcome,
        provider_status=status.value,
        provider_transaction_id=transfer.transaction_id,
        failure_code=status.failure_code,
        message=transfer.message,
        occurred_at=transfer.updated_at,
        currency=transfer.currency,
        amount_reported=transfer.send_amount,
        amount_minor=reported_amount(transfer.send_amount, transfer.currency),
    )


def _report_from_ack(ack: HubAck, reference: str) -> ProviderEvent:
    accepted = ack.code == ACK_ACCEPTED
    status = ack.status or (HubStatus.QUEUED if accepted else None)
    failure_code: str | None
    if status is None:
        # A rejection without a status code is still final: the hub said 101.
        outcome, provider_status, failure_code = TransferOutcome.FAILED, "101", "rejected"
    elif accepted:
        outcome, provider_status, failure_code = status.outcome, status.value, status.failure_code
    else:
        outcome, provider_status = TransferOutcome.FAILED, status.value
        failure_code = status.failure_code or "rejected"
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=f"ack:{reference}:{provider_status}",
        reference=reference,
        outcome=outcome,
        provider_status=provider_status,
        provider_transaction_id=ack.transaction_id,
        failure_code=failure_code,
        message=ack.message,
        occurred_at=datetime.now(UTC),
    )


class WalletHubActivities:
    """Activities talking to the wallet hub through a client the worker configured.

    The ``httpx.AsyncClient`` carries the hub's base URL, the API key header and the
    per-request timeout; this class never builds clients.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        """Keep the hub client."""
        self._http = http

    @activity.defn
    async def submit_payout(self, inp: SubmitPayoutInput) -> SubmitPayoutResult:
        """Submit a payout once, resolving ambiguous outcomes by a status query."""
        if activity.info().attempt > 1:
            # An earlier attempt may have reached the hub before it failed: ask first.
            known = await self._find(inp.reference)
            if known is not None:
                return SubmitPayoutResult(report=known, resolved_by_status_query=True)

        body = HubPayoutRequest(
            third_party_trans_id=inp.reference,
            msisdn=inp.msisdn,
            country=inp.country,
            currency=inp.amount.currency,
            amount=inp.amount.to_major(),
            description=inp.description,
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            response = await self._http.post(PAYOUTS_PATH, json=body)
        except httpx.TransportError as exc:
            return await self._resolve_ambiguous(inp.reference, type(exc).__name__)

        status = response.status_code
        if status >= 500:
            return await self._resolve_ambiguous(inp.reference, f"HTTP {status}")
        if status in (401, 403):
            raise _business_error(ProviderAuthError, f"hub refused our credentials ({status})")
        if status == 409:
            raise _business_error(
                ProviderConflict, "the hub holds this reference with different parameters"
            )
        if status in (408, 429):
            raise _transient(f"hub asked us to slow down ({status})")
        if status >= 400:
            raise _business_error(ProviderRejected, f"hub refused the request ({status})")
        ack = HubAck.model_validate_json(response.content)
        return SubmitPayoutResult(report=_report_from_ack(ack, inp.reference))

    @activity.defn
    async def get_payout_status(self, inp: TransferStatusInput) -> TransferStatusResult:
        """Ask the hub where the transfer with our reference stands."""
        return TransferStatusResult(report=await self._find(inp.reference))

    async def _find(self, reference: str) -> ProviderEvent | None:
        try:
            response = await self._http.get(f"{PAYOUTS_PATH}/{reference}")
        except httpx.TransportError as exc:
            raise _transient(f"status query failed: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise _business_error(ProviderAuthError, "hub refused our credentials")
        if response.status_code != 200:
            raise _transient(f"status query answered HTTP {response.status_code}")
        return _report_from_transfer(HubTransfer.model_validate_json(response.content))

    async def _resolve_ambiguous(self, reference: str, what: str) -> SubmitPayoutResult:
        activity.logger.info(
            "ambiguous submit outcome (%s) for %s; asking the hub", what, reference
        )
        known = await self._find(reference)
        if known is None:
            # The hub never saw it: safe to let Temporal retry the submission.
            raise _transient(f"submit failed ({what}) and the hub has no record of it")
        return SubmitPayoutResult(report=known, resolved_by_status_query=True)
