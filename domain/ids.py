"""Business ids: the only thing workflow ids are made of, so they carry no PII."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from payments_engine.domain.errors import InvalidReference

_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


def check_business_id(value: str) -> str:
    """Accept 1-64 characters of letters, digits and ``_ . : -``, starting alphanumeric."""
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value):
        raise InvalidReference(
            "ids are 1-64 characters of letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit"
        )
    return value


BusinessId = Annotated[str, AfterValidator(check_business_id)]

PAYOUT_WORKFLOW_PREFIX = "payout-"


def payout_workflow_id(payout_id: str) -> str:
    """The workflow id of a payout; also the reference sent to providers."""
    return PAYOUT_WORKFLOW_PREFIX + check_business_id(payout_id)


COLLECTION_WORKFLOW_PREFIX = "collection-"
REFUND_WORKFLOW_PREFIX = "refund-"


def collection_workflow_id(collection_id: str) -> str:
    """The workflow id of a collection; also the reference sent to providers."""
    return COLLECTION_WORKFLOW_PREFIX + check_business_id(collection_id)


def refund_workflow_id(refund_id: str) -> str:
    """The workflow id of a refund (the merchant's refund id); the provider's refund id."""
    return REFUND_WORKFLOW_PREFIX + check_business_id(refund_id)
