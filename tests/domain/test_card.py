"""The card's pure domain: ``decide()``, its order of checks and partial approvals,
``CardLimits`` validation and the card's day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from payments_engine.domain.card import (
    STAND_IN_EVENT,
    AuthorizationDecision,
    AuthorizationRequest,
    Cardholder,
    CardLimits,
    CardState,
    DailyUsage,
    DeclineReason,
    FundCardRequest,
    Hold,
    IdDocument,
    MerchantInfo,
    StandIn,
    card_workflow_id,
    decide,
)
from payments_engine.domain.events import TransferOutcome
from payments_engine.domain.money import Money

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
SHOP = MerchantInfo(name="Naivas", mcc="5411", country="KE")
CASINO = MerchantInfo(name="Lucky Bets", mcc="7995", country="UG")


def request(
    amount: int = 1_000,
    *,
    currency: str = "KES",
    merchant: MerchantInfo = SHOP,
    partial: bool = False,
    respond_by: datetime | None = None,
) -> AuthorizationRequest:
    return AuthorizationRequest(
        authorization_id="auth-1",
        amount=Money(amount=amount, currency=currency),
        merchant=merchant,
        partial_allowed=partial,
        respond_by=respond_by,
    )


def card(**changes: Any) -> dict[str, Any]:
    """decide()'s arguments for an active, funded card without limits, with ``changes``."""
    arguments: dict[str, Any] = {
        "state": CardState.ACTIVE,
        "expires_at": NOW + timedelta(days=365),
        "currency": "KES",
        "balance": 10_000,
        "limits": CardLimits(),
        "usage": DailyUsage(day="2026-03-14"),
        "request": request(),
        "now": NOW,
    }
    arguments.update(changes)
    return arguments


def reason(**changes: Any) -> DeclineReason | None:
    decision = decide(**card(**changes))
    if decision.approved:
        return None
    assert decision.approved_amount == 0
    return decision.decline_reason


def approved(**changes: Any) -> int:
    decision = decide(**card(**changes))
    assert decision.approved, decision
    assert decision.decline_reason is None
    return decision.approved_amount


# --------------------------------------------------------------- every reason


def test_an_active_funded_card_approves_in_full() -> None:
    decision = decide(**card())

    assert decision == AuthorizationDecision(
        authorization_id="auth-1", approved=True, approved_amount=1_000, currency="KES"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"state": CardState.TERMINATED}, DeclineReason.CARD_TERMINATED),
        ({"state": CardState.PENDING_KYC}, DeclineReason.CARD_INACTIVE),
        ({"state": CardState.KYC_REJECTED}, DeclineReason.CARD_INACTIVE),
        ({"state": CardState.FROZEN}, DeclineReason.CARD_FROZEN),
        (
            {"request": request(respond_by=NOW - timedelta(milliseconds=1))},
            DeclineReason.ISSUER_TIMEOUT,
        ),
        ({"expires_at": NOW}, DeclineReason.CARD_EXPIRED),
        ({"request": request(currency="UGX")}, DeclineReason.CURRENCY_MISMATCH),
        (
            {"limits": CardLimits(allowed_countries=["TZ"])},
            DeclineReason.COUNTRY_NOT_ALLOWED,
        ),
        (
            {"limits": CardLimits(blocked_categories=["5411"])},
            DeclineReason.MERCHANT_CATEGORY_BLOCKED,
        ),
        (
            {"limits": CardLimits(per_authorization=999)},
            DeclineReason.OVER_TRANSACTION_LIMIT,
        ),
        (
            {
                "limits": CardLimits(daily_count=3),
                "usage": DailyUsage(day="2026-03-14", amount=10, count=3),
            },
            DeclineReason.DAILY_COUNT_EXCEEDED,
        ),
        (
            {
                "limits": CardLimits(daily_amount=5_000),
                "usage": DailyUsage(day="2026-03-14", amount=4_500, count=1),
            },
            DeclineReason.DAILY_AMOUNT_EXCEEDED,
        ),
        ({"balance": 999}, DeclineReason.INSUFFICIENT_FUNDS),
        ({"balance": -50}, DeclineReason.INSUFFICIENT_FUNDS),
    ],
    ids=lambda value: value.value if isinstance(value, DeclineReason) else "",
)
def test_every_decline_reason(changes: dict[str, Any], expected: DeclineReason) -> None:
    decision = decide(**card(**changes))

    assert not decision.approved
    assert decision.approved_amount == 0
    assert decision.decline_reason is expected
    assert decision.authorization_id == "auth-1"
    # A decline names the request's currency, even when it is not the card's.
    assert decision.currency == changes.get("request", request()).amount.currency


def test_the_checks_run_in_their_documented_order() -> None:
    """A request failing every check gets the first reason; fixing each in turn reveals
    the next: state, lateness, expiry, currency, country, category, per-authorization,
    daily count, daily amount, funds."""
    everything_wrong = {
        "state": CardState.TERMINATED,
        "expires_at": NOW - timedelta(days=1),
        "balance": 10_000,  # funds are last: see the next tests
        "limits": CardLimits(
            per_authorization=500,
            daily_amount=600,
            daily_count=2,
            allowed_countries=["KE"],
            blocked_categories=["7995"],
        ),
        "usage": DailyUsage(day="2026-03-14", amount=600, count=2),
        "request": request(currency="UGX", merchant=CASINO, respond_by=NOW - timedelta(seconds=1)),
    }
    fixes: list[tuple[DeclineReason, dict[str, Any]]] = [
        (DeclineReason.CARD_TERMINATED, {"state": CardState.PENDING_KYC}),
        (DeclineReason.CARD_INACTIVE, {"state": CardState.FROZEN}),
        (DeclineReason.CARD_FROZEN, {"state": CardState.ACTIVE}),
        (
            DeclineReason.ISSUER_TIMEOUT,
            {"request": request(currency="UGX", merchant=CASINO)},
        ),
        (DeclineReason.CARD_EXPIRED, {"expires_at": None}),
        (DeclineReason.CURRENCY_MISMATCH, {"request": request(merchant=CASINO)}),
        (
            DeclineReason.COUNTRY_NOT_ALLOWED,
            {
                "request": request(
                    merchant=MerchantInfo(name="Lucky Bets", mcc="7995", country="KE")
                )
            },
        ),
        (DeclineReason.MERCHANT_CATEGORY_BLOCKED, {"request": request()}),
        (
            DeclineReason.OVER_TRANSACTION_LIMIT,
            {
                "limits": CardLimits(
                    per_authorization=1_000,
                    daily_amount=1_200,
                    daily_count=2,
                    allowed_countries=["KE"],
                    blocked_categories=["7995"],
                )
            },
        ),
        (DeclineReason.DAILY_COUNT_EXCEEDED, {"usage": DailyUsage(amount=600, count=1)}),
        (DeclineReason.DAILY_AMOUNT_EXCEEDED, {"usage": DailyUsage(amount=200, count=1)}),
        (DeclineReason.INSUFFICIENT_FUNDS, {"balance": 1_000}),
    ]
    arguments = dict(everything_wrong)
    for expected, fix in fixes[:-1]:
        assert reason(**arguments) is expected, fix
        arguments.update(fix)
    assert approved(**arguments) == 1_000
    # Funds, the last check, once everything else passes.
    assert reason(**(arguments | {"balance": 999})) is DeclineReason.INSUFFICIENT_FUNDS


def test_funds_come_after_every_limit() -> None:
    short = {"balance": 10}
    assert reason(**short, limits=CardLimits(per_authorization=999)) is (
        DeclineReason.OVER_TRANSACTION_LIMIT
    )
    assert reason(**short, limits=CardLimits(daily_count=1), usage=DailyUsage(count=1)) is (
        DeclineReason.DAILY_COUNT_EXCEEDED
    )
    # The daily amount fully spent, no funds either: the daily amount is named.
    spent = DailyUsage(amount=5_000, count=1)
    assert reason(balance=0, limits=CardLimits(daily_amount=5_000), usage=spent) is (
        DeclineReason.DAILY_AMOUNT_EXCEEDED
    )


def test_daily_amount_is_named_before_funds_when_both_fall_short() -> None:
    limits = CardLimits(daily_amount=5_000)
    usage = DailyUsage(amount=4_400, count=1)  # 600 left today, the request is 1,000

    assert reason(balance=10, limits=limits, usage=usage) is DeclineReason.DAILY_AMOUNT_EXCEEDED


def test_boundaries_are_inclusive_where_documented() -> None:
    # Answered exactly at the deadline: in time. Exactly at the expiry: expired.
    assert approved(request=request(respond_by=NOW)) == 1_000
    assert reason(expires_at=NOW) is DeclineReason.CARD_EXPIRED
    assert approved(expires_at=NOW + timedelta(microseconds=1)) == 1_000
    assert approved(expires_at=None) == 1_000
    # Limits are maxima: reaching one is allowed.
    assert approved(limits=CardLimits(per_authorization=1_000)) == 1_000
    assert approved(balance=1_000) == 1_000
    limits = CardLimits(daily_amount=5_000, daily_count=3)
    assert approved(limits=limits, usage=DailyUsage(amount=4_000, count=2)) == 1_000
    assert (
        reason(limits=limits, usage=DailyUsage(amount=4_001, count=2))
        is DeclineReason.DAILY_AMOUNT_EXCEEDED
    )


def test_the_country_check_uses_the_normalised_codes() -> None:
    limits = CardLimits(allowed_countries=["ke", "ug"])

    assert approved(limits=limits, request=request(merchant=CASINO)) == 1_000
    assert (
        reason(limits=limits, request=request(merchant=CASINO.model_copy(update={"country": "TZ"})))
        is DeclineReason.COUNTRY_NOT_ALLOWED
    )


# ------------------------------------------------------------ partial approvals


def test_a_partial_approval_takes_what_the_balance_covers() -> None:
    decision = decide(**card(balance=400, request=request(partial=True)))

    assert decision.approved and decision.approved_amount == 400
    assert decision.currency == "KES"


def test_a_partial_approval_takes_what_the_daily_amount_leaves() -> None:
    arguments = card(
        limits=CardLimits(daily_amount=5_000),
        usage=DailyUsage(amount=4_300, count=1),
        request=request(partial=True),
    )

    assert approved(**arguments) == 700


def test_a_partial_approval_takes_the_smaller_of_balance_and_daily_amount_left() -> None:
    limits = CardLimits(daily_amount=5_000)
    usage = DailyUsage(amount=4_300, count=1)

    assert approved(limits=limits, usage=usage, balance=500, request=request(partial=True)) == 500
    assert approved(limits=limits, usage=usage, balance=800, request=request(partial=True)) == 700


def test_a_partial_approval_of_nothing_is_a_decline() -> None:
    partial = request(partial=True)
    spent = DailyUsage(amount=5_000, count=1)

    assert reason(balance=0, request=partial) is DeclineReason.INSUFFICIENT_FUNDS
    assert reason(balance=-300, request=partial) is DeclineReason.INSUFFICIENT_FUNDS
    assert (
        reason(limits=CardLimits(daily_amount=5_000), usage=spent, request=partial)
        is DeclineReason.DAILY_AMOUNT_EXCEEDED
    )
    # Both exhausted: the daily amount is checked first.
    assert (
        reason(limits=CardLimits(daily_amount=5_000), usage=spent, balance=0, request=partial)
        is DeclineReason.DAILY_AMOUNT_EXCEEDED
    )


def test_partial_approval_never_bypasses_the_other_limits() -> None:
    partial = request(partial=True)

    assert (
        reason(limits=CardLimits(per_authorization=999), request=partial)
        is DeclineReason.OVER_TRANSACTION_LIMIT
    )
    assert (
        reason(limits=CardLimits(daily_count=1), usage=DailyUsage(count=1), request=partial)
        is DeclineReason.DAILY_COUNT_EXCEEDED
    )
    assert reason(state=CardState.FROZEN, request=partial) is DeclineReason.CARD_FROZEN


def test_without_partial_allowed_a_shortfall_declines() -> None:
    assert reason(balance=999) is DeclineReason.INSUFFICIENT_FUNDS
    assert (
        reason(limits=CardLimits(daily_amount=5_000), usage=DailyUsage(amount=4_500))
        is DeclineReason.DAILY_AMOUNT_EXCEEDED
    )


def test_enough_for_everything_approves_in_full_even_when_partial_is_allowed() -> None:
    assert approved(request=request(partial=True)) == 1_000


# ----------------------------------------------------------------- CardLimits


def test_default_limits_allow_everything() -> None:
    limits = CardLimits()

    assert limits.per_authorization is None and limits.daily_amount is None
    assert limits.daily_count is None and limits.allowed_countries is None
    assert limits.blocked_categories == [] and limits.day_offset_minutes == 0


def test_contradicting_limits_are_invalid() -> None:
    with pytest.raises(ValidationError, match="cannot be below the per-authorization"):
        CardLimits(per_authorization=2_000, daily_amount=1_999)
    # Equal is consistent.
    assert CardLimits(per_authorization=2_000, daily_amount=2_000).daily_amount == 2_000


def test_countries_and_categories_are_normalised() -> None:
    limits = CardLimits(allowed_countries=["ug", "KE", "ke"], blocked_categories=["7995", "5411"])

    assert limits.allowed_countries == ["KE", "UG"]
    assert limits.blocked_categories == ["5411", "7995"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"allowed_countries": ["KEN"]}, "two-letter country code"),
        ({"allowed_countries": ["K1"]}, "two-letter country code"),
        ({"allowed_countries": ["ké"]}, "two-letter country code"),
        ({"allowed_countries": []}, "allowed countries is empty"),
        ({"blocked_categories": ["799"]}, "four-digit merchant category code"),
        ({"blocked_categories": ["79a5"]}, "four-digit merchant category code"),
        ({"per_authorization": 0}, "greater than 0"),
        ({"daily_amount": -1}, "greater than 0"),
        ({"daily_count": 0}, "greater than 0"),
        ({"day_offset_minutes": 841}, "less than or equal to 840"),
        ({"day_offset_minutes": -721}, "greater than or equal to -720"),
        ({"weekly_amount": 10}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_limits_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CardLimits(**fields)


def test_limits_are_frozen() -> None:
    with pytest.raises(ValidationError):
        CardLimits().daily_count = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("at", "offset", "day"),
    [
        (datetime(2026, 3, 14, 0, 0, tzinfo=UTC), 0, "2026-03-14"),
        (datetime(2026, 3, 14, 23, 59, 59, 999_999, tzinfo=UTC), 0, "2026-03-14"),
        (datetime(2026, 3, 14, 20, 59, 59, tzinfo=UTC), 180, "2026-03-14"),
        (datetime(2026, 3, 14, 21, 0, tzinfo=UTC), 180, "2026-03-15"),
        (datetime(2026, 3, 14, 2, 59, tzinfo=UTC), -180, "2026-03-13"),
        (datetime(2026, 3, 14, 3, 0, tzinfo=UTC), -180, "2026-03-14"),
        (datetime(2026, 12, 31, 10, 0, tzinfo=UTC), 840, "2027-01-01"),
        (datetime(2026, 1, 1, 11, 59, tzinfo=UTC), -720, "2025-12-31"),
    ],
)
def test_day_of(at: datetime, offset: int, day: str) -> None:
    assert CardLimits(day_offset_minutes=offset).day_of(at) == day


def test_day_of_reads_the_instant_not_the_wall_clock_it_is_written_in() -> None:
    nairobi = timezone(timedelta(hours=3))
    at = datetime(2026, 3, 15, 1, 0, tzinfo=nairobi)  # 22:00 UTC on the 14th

    assert CardLimits().day_of(at) == "2026-03-14"
    assert CardLimits(day_offset_minutes=180).day_of(at) == "2026-03-15"


# ------------------------------------------------------------ the other models


@pytest.mark.parametrize("amount", [0, -1])
def test_amounts_of_requests_must_be_positive(amount: int) -> None:
    with pytest.raises(ValidationError, match="greater than zero"):
        request(amount)
    with pytest.raises(ValidationError, match="greater than zero"):
        FundCardRequest(reference="f1", amount=Money(amount=amount, currency="KES"))


def test_authorization_ids_are_restricted() -> None:
    with pytest.raises(ValidationError):
        AuthorizationRequest(
            authorization_id="a b", amount=Money(amount=1, currency="KES"), merchant=SHOP
        )
    with pytest.raises(ValidationError):
        MerchantInfo(name="x", mcc="541", country="KE")
    with pytest.raises(ValidationError):
        MerchantInfo(name="x", mcc="5411", country="ke")


def test_a_hold_never_holds_less_than_nothing() -> None:
    hold = Hold(authorization_id="a", amount=1_000, placed_at=NOW, expires_at=NOW)

    assert hold.open_amount == 1_000
    assert hold.model_copy(update={"captured": 600, "released": 100}).open_amount == 300
    assert hold.model_copy(update={"captured": 1_200}).open_amount == 0


def test_final_states() -> None:
    assert {state for state in CardState if state.is_final} == {
        CardState.TERMINATED,
        CardState.KYC_REJECTED,
    }


def test_card_workflow_id() -> None:
    assert card_workflow_id("c-1") == "card-c-1"
    with pytest.raises(ValueError):
        card_workflow_id("bad id")


def test_a_stand_in_is_delivered_as_a_failed_provider_event() -> None:
    event = StandIn(card_reference="card-c1", authorization_id="auth-9").event("issuer")

    assert event.event_id == "stand-in:auth-9"
    assert (event.provider, event.reference) == ("issuer", "card-c1")
    assert event.outcome is TransferOutcome.FAILED
    assert event.provider_status == STAND_IN_EVENT
    assert event.provider_transaction_id == "auth-9"
    assert event.failure_code == DeclineReason.ISSUER_TIMEOUT.value
    assert event.needs_confirmation is False


def test_cardholder_data_stays_out_of_reprs() -> None:
    holder = Cardholder(
        first_name="Wanjiru",
        last_name="Kamau",
        date_of_birth="1990-04-01",  # type: ignore[arg-type]
        id_document=IdDocument(type="national_id", number="12345678"),
        country="ke",
    )

    assert holder.country == "KE"
    for text in (repr(holder), str(holder), repr(holder.id_document)):
        assert "Wanjiru" not in text and "Kamau" not in text and "12345678" not in text
