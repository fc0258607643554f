"""Checks both cash networks make of a request for a voucher: the payer and the digest."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from payments_engine.sandbox.cash.scenarios import VoucherScenario, scenario_for

DOCUMENT_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "CC": (re.compile(r"[0-9]{5,10}"), "5-10 digits"),
    "CE": (re.compile(r"[A-Z0-9]{5,12}"), "5-12 letters or digits"),
    "NIT": (re.compile(r"[0-9]{9,10}(-[0-9])?"), "9-10 digits, optionally - and a check digit"),
    "PP": (re.compile(r"[A-Z0-9]{5,20}"), "5-20 letters or digits"),
    "CURP": (re.compile(r"[A-Z]{4}[0-9]{6}[HMX][A-Z]{5}[A-Z0-9][0-9]"), "18 letters and digits"),
    "RFC": (re.compile(r"[A-Z&]{3,4}[0-9]{6}[A-Z0-9]{3}"), "12-13 letters and digits"),
}
"""The shape of each identity document the networks take, as they check it."""


class PayerRefused(ValueError):
    """The payer's document type is not taken, or its number has not the type's shape."""


@dataclass(frozen=True)
class CheckedPayer:
    """What the network keeps of a payer: masked, and the scenario the document chooses."""

    payer_masked: str
    document_type: str
    document_masked: str
    scenario: VoucherScenario


def check_payer(
    name: str, document_type: str, document_number: str, accepted: Iterable[str]
) -> CheckedPayer:
    """Check the payer's document (type taken by the network, number of its shape).

    Raises:
        PayerRefused: naming the problem, never the number.
    """
    accepted = tuple(accepted)
    if document_type not in accepted:
        raise PayerRefused(f"document type: one of {', '.join(accepted)}")
    pattern, shape = DOCUMENT_SHAPES[document_type]
    cleaned = re.sub(r"[\s.]", "", document_number).upper()
    if not pattern.fullmatch(cleaned):
        raise PayerRefused(f"not a valid {document_type} number ({shape})")
    initials = " ".join(f"{part[0]}." for part in name.split() if part) or "?"
    masked = f"{document_type} {'*' * max(len(cleaned) - 4, 0)}{cleaned[-4:]}"
    return CheckedPayer(
        payer_masked=initials,
        document_type=document_type,
        document_masked=masked,
        scenario=scenario_for(cleaned),
    )


def fingerprint(request: BaseModel) -> str:
    """A digest of a request, to tell a repeat from another request under one key."""
    return hashlib.sha256(request.model_dump_json(by_alias=True).encode("utf-8")).hexdigest()


def describe(errors: Iterable[Mapping[str, Any]], skip: int = 1) -> str:
    """Validation errors as ``field (type)``: never the values, which hold personal data."""
    parts = []
    for error in errors:
        where = ".".join(str(item) for item in tuple(error.get("loc", ()))[skip:])
        parts.append(f"{where or '<body>'} ({error.get('type')})")
    return "invalid request: " + (", ".join(parts) or "malformed")
