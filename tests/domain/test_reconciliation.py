"""The reconciliation models: workflow ids, finding ids, and the README's table of kinds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from payments_engine.domain.reconciliation import (
    FindingKind,
    LineKind,
    LineStatus,
    ProviderTransaction,
    ReconciliationRequest,
    finding_id,
    reconcile_workflow_id,
    schedule_id,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_ids_name_the_provider_and_the_date() -> None:
    assert reconcile_workflow_id("hub", date(2026, 11, 24)) == "reconcile-hub-2026-11-24"
    assert schedule_id("momo") == "reconcile-daily-momo"
    request = ReconciliationRequest(provider="hub", day=date(2026, 1, 2))
    assert request.workflow_id == "reconcile-hub-2026-01-02"


def test_a_finding_id_is_stable_and_tells_differences_apart() -> None:
    day = date(2026, 11, 24)
    first = finding_id("hub", day, "amount_mismatch", "ref:payout:payout-p1", 0)
    assert first == finding_id("hub", day, "amount_mismatch", "ref:payout:payout-p1", 0)
    assert re.fullmatch(r"rf_[0-9a-f]{16}", first)
    others = {
        finding_id("hub", day, "amount_mismatch", "ref:payout:payout-p1", 1),
        finding_id("hub", day, "fee_mismatch", "ref:payout:payout-p1", 0),
        finding_id("momo", day, "amount_mismatch", "ref:payout:payout-p1", 0),
        finding_id("hub", date(2026, 11, 25), "amount_mismatch", "ref:payout:payout-p1", 0),
    }
    assert first not in others and len(others) == 4


def test_a_provider_transaction_refuses_negative_money_and_bad_currency() -> None:
    fields = {
        "provider": "hub",
        "kind": LineKind.PAYOUT,
        "reference": "payout-p1",
        "status": LineStatus.SUCCEEDED,
        "gross": 100,
        "currency": "KES",
        "occurred_at": datetime(2026, 11, 24, tzinfo=UTC),
        "settlement_date": date(2026, 11, 24),
    }
    assert ProviderTransaction.model_validate(fields).fee == 0
    for bad in ({"gross": -1}, {"fee": -1}, {"currency": "kes"}, {"reference": ""}):
        with pytest.raises(ValidationError):
            ProviderTransaction.model_validate(fields | bad)


def test_the_readme_lists_every_finding_kind() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Reconciliation") :]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", section[: section.index("\n## ")], re.M))
    assert listed == {kind.value for kind in FindingKind}
