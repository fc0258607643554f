"""The exactly-once protocol every money-moving activity runs, once, for every provider.

Two rules make a payment move money at most once whatever the provider:

* Our reference (the workflow id) is the provider's idempotency key, so a resubmission
  can never create a second payout, collection or refund.
* An ambiguous outcome (timeout, connection reset, 5xx after the request was sent) is
  never blindly resubmitted: the provider's status API is asked by our reference, and
  only if it has no record does Temporal retry the submission. Every retried attempt
  also starts with that status query, and a provider's "duplicate" answer is resolved
  the same way.

:func:`to_application_error` is the one place where adapter faults become retryable or
final Temporal errors.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from payments_engine.activities.providers.base import (
    AlreadySubmitted,
    Ambiguous,
    ProviderFault,
    Refused,
)
from payments_engine.domain.cash import IssuedVoucher
from payments_engine.domain.errors import (
    ProviderAuthError,
    ProviderNotConfigured,
    ProviderUnavailable,
)
from payments_engine.domain.events import ProviderEvent

Answer = TypeVar("Answer", ProviderEvent, IssuedVoucher)
"""What a submission answers: a report, or a cash network's voucher (with its report)."""


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
        # Bad credentials are the operator's to fix; a refused payment is an outcome.
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


def not_configured(provider: str) -> ApplicationError:
    """Final: retrying cannot help, and nothing was sent, so the payment fails cleanly."""
    return ApplicationError(
        f"provider {provider!r} is not configured on this worker",
        type=ProviderNotConfigured.type,
        non_retryable=True,
    )


async def submit_once(
    send: Callable[[], Awaitable[Answer]],
    find: Callable[[], Awaitable[Answer | None]],
    *,
    reference: str,
    provider: str,
) -> tuple[Answer, bool]:
    """Submit once, resolving ambiguous outcomes by a status query on our reference.

    Args:
        send: the adapter's submission (payout, request to pay, refund).
        find: the adapter's status query by our reference.
        reference: our reference, for the log line.
        provider: the provider's name, for the log line.

    Returns:
        Where it stands, and True when that came from the status query.

    Raises:
        ApplicationError: final for refusals, retryable while the provider has no
            record of an ambiguous submission (Temporal then submits again).
    """
    try:
        if activity.info().attempt > 1:
            # An earlier attempt may have reached the provider before it failed.
            known = await find()
            if known is not None:
                return known, True
        try:
            return await send(), False
        except (Ambiguous, AlreadySubmitted) as fault:
            activity.logger.info(
                "submit of %s to %s: %s; asking its status API", reference, provider, fault
            )
            known = await find()
            if known is None:
                # It never saw the request: safe to let Temporal submit again.
                raise Ambiguous(f"submit failed ({fault}) and it has no record") from None
            return known, True
    except ProviderFault as fault:
        raise to_application_error(fault) from None


async def ask_status(find: Callable[[], Awaitable[ProviderEvent | None]]) -> ProviderEvent | None:
    """Ask the provider's status API; faults become retryable or final errors."""
    try:
        return await find()
    except ProviderFault as fault:
        raise to_application_error(fault) from None
