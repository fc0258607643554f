"""Business ids: the accepted pattern and the payout workflow id."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from payments_engine.domain.errors import InvalidReference
from payments_engine.domain.ids import BusinessId, check_business_id, payout_workflow_id

BAD_IDS = [
    "",
    "a b",
    "a/b",
    "../etc",
    "-leading-dash",
    "_leading",
    "x" * 65,
    "caf\u00e9",
    "a\tb",
    'a"b',
]


@pytest.mark.parametrize(
    "value", ["a", "P1", "order-42", "inv_2024.01:7", "0" * 64, "a" + "-" * 63]
)
def test_accepted_ids(value: str) -> None:
    assert check_business_id(value) == value


@pytest.mark.parametrize("value", BAD_IDS)
def test_refused_ids(value: str) -> None:
    with pytest.raises(InvalidReference, match="1-64 characters"):
        check_business_id(value)


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidReference):
        check_business_id(123)  # type: ignore[arg-type]


def test_payout_workflow_id_is_prefixed() -> None:
    assert payout_workflow_id("order-42") == "payout-order-42"


@pytest.mark.parametrize("value", ["a b", "a/b", "x" * 65, ""])
def test_payout_workflow_id_checks_the_id(value: str) -> None:
    with pytest.raises(InvalidReference):
        payout_workflow_id(value)


class _Holder(BaseModel):
    ref: BusinessId


def test_business_id_type_validates_in_models() -> None:
    assert _Holder(ref="ok-1").ref == "ok-1"
    with pytest.raises(ValidationError, match="1-64 characters"):
        _Holder(ref="not ok")


def test_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidReference):
        check_business_id("order-42\n")
