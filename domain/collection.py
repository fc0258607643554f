"""Collections: money taken in from a payer's mobile wallet, approved on the handset.

The provider pushes a prompt (USSD/SMS) to the payer's phone; the payer approves or
declines within the approval window. This module holds the typed inputs the collection
activities and adapters share; the workflow's own request and view build on them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from payments_engine.domain.events import ProviderEvent
from payments_engine.domain.money import Money

DEFAULT_APPROVAL_WINDOW_SECONDS = 300
"""Five minutes, as MTN MoMo gives a payer to approve a request to pay."""
MAX_APPROVAL_WINDOW_SECONDS = 600
"""The longest window the hub accepts."""


class RequestCollectionInput(BaseModel):
    """Input of the ``request_collection`` activity; ``provider`` picks the adapter.

    ``reference`` is our reference (the collection's workflow id), the provider's
    idempotency key: asking twice never prompts the payer twice.
    """

    reference: str = Field(min_length=1, max_length=80)
    provider: str
    msisdn: str
    country: str
    amount: Money
    description: str | None = None
    approval_window_seconds: int = Field(
        default=DEFAULT_APPROVAL_WINDOW_SECONDS, ge=1, le=MAX_APPROVAL_WINDOW_SECONDS
    )


class RequestCollectionResult(BaseModel):
    """Output of ``request_collection``: where it stands right after asking the payer.

    ``resolved_by_status_query`` is true when the call's outcome was ambiguous and the
    answer came from asking the provider for the status by our reference.
    """

    report: ProviderEvent
    resolved_by_status_query: bool = False


class CancelCollectionResult(BaseModel):
    """Output of ``cancel_collection``.

    ``refused`` is true when the provider can no longer cancel it (paid, or the payer's
    approval is under way); ``report`` is where it stands after a cancel, None when the
    provider never saw the reference.
    """

    report: ProviderEvent | None = None
    refused: bool = False
