"""Generic payout activities: the exactly-once protocol, once, for every provider.

Two rules make a payout move money at most once whatever the provider:

* Our reference (the workflow id, derived from the payout id) is the provider's
  idempotency key, so a resubmission can never create a second transfer.
* An ambiguous outcome (timeout, connection reset, 5xx after the request was sent) is
  never blindly resubmitted: the provider's status API is asked by our reference, and
  only if it has no record does Temporal retry the submission. Every retried attempt
  also starts with that status query, and a provider's "duplicate" answer is resolved
  the same way.

:func:`to_application_error` is the one place where adapter faults become retryable or
final Temporal errors. Activity names (``submit_payout``, ``get_payout_status``) are the
ones recorded histories hold; the request's ``provider`` picks the adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from payments_engine.activities.providers.base import (
    AlreadySubmitted,
    Ambiguous,
    PayoutProvider,
    ProviderFault,
    Refused,
)
from payments_engine.domain.errors import (
    ProviderAuthError,
    ProviderNotConfigured,
    ProviderUnavailable,
)
from payments_engine.domain.payout import (
    SubmitPayoutInput,
    SubmitPayoutResult,
    TransferStatusInput,
    TransferStatusResult,
)


def to_application_error(fault: ProviderFault) -> ApplicationError:
    """Refusals are final with the engine's error type; everything else is retried.

    Each is announced in one line without a traceback: BENIGN keeps the SDK from logging
    the expected failure again ("Completing activity as failed") with its traceback;
    unexpected exceptions keep theirs. A refusal's line names its type and our reference
    only: a provider's message may quote the request (a phone number).
    """
    info = activity.info()
    if isinstance(fault, Refused):
        error_type = fault.error.type
        # Bad credentials are the operator's to fix; a refused payout is an outcome.
        level = logging.WARNING if error_type == ProviderAuthError.type else logging.INFO
        activity.logger.log(
            level, "%s of %s refused: %s", info.activity_type, info.workflow_id, error_type
        )
        return ApplicationError(
            str(fault),
            type=error_type,
            non_retryable=True,
            category=ApplicationErrorCategory.BENIGN,
        )
    activity.logger.warning(
        "%s attempt %d for %s will be retried: %s",
        info.activity_type,
        info.attempt,
        info.workflow_id,
        fault,
    )
    return ApplicationError(
        str(fault),
        type=ProviderUnavailable.type,
        non_retryable=False,
        category=ApplicationErrorCategory.BENIGN,
    )


class PayoutActivities:
    """Payout activities dispatching on the request's provider.

    Args:
        adapters: provider name -> payout adapter, each on the HTTP client the worker
            configured for it (base URL, credentials, timeout); this class builds none.
    """

    def __init__(self, adapters: Mapping[str, PayoutProvider]) -> None:
        """Keep the adapters."""
        self._adapters = adapters

    def _adapter(self, provider: str) -> PayoutProvider:
        adapter = self._adapters.get(provider)
        if adapter is None:
            # Final: retrying cannot help, and nothing was sent, so the payout fails
            # cleanly and its reservation is released.
            raise ApplicationError(
                f"provider {provider!r} is not configured on this worker",
                type=ProviderNotConfigured.type,
                non_retryable=True,
            )
        return adapter

    @activity.defn
    async def submit_payout(self, inp: SubmitPayoutInput) -> SubmitPayoutResult:
        """Submit a payout once, resolving ambiguous outcomes by a status query."""
        adapter = self._adapter(inp.provider)
        try:
            if activity.info().attempt > 1:
                # An earlier attempt may have reached the provider before it failed.
                known = await adapter.find_payout(inp.reference)
                if known is not None:
                    return SubmitPayoutResult(report=known, resolved_by_status_query=True)
            try:
                return SubmitPayoutResult(report=await adapter.send_payout(inp))
            except (Ambiguous, AlreadySubmitted) as fault:
                activity.logger.info(
                    "submit of %s to %s: %s; asking its status API",
                    inp.reference,
                    inp.provider,
                    fault,
                )
                known = await adapter.find_payout(inp.reference)
                if known is None:
                    # It never saw the transfer: safe to let Temporal submit again.
                    raise Ambiguous(f"submit failed ({fault}) and it has no record") from None
                return SubmitPayoutResult(report=known, resolved_by_status_query=True)
        except ProviderFault as fault:
            raise to_application_error(fault) from None

    @activity.defn
    async def get_payout_status(self, inp: TransferStatusInput) -> TransferStatusResult:
        """Ask the provider where the transfer with our reference stands."""
        adapter = self._adapter(inp.provider)
        try:
            return TransferStatusResult(report=await adapter.find_payout(inp.reference))
        except ProviderFault as fault:
            raise to_application_error(fault) from None
