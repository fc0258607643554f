"""The issuer's synchronous authorization request and our answer, in its wire format."""

from __future__ import annotations

from pydantic import ValidationError

from payments_engine.activities.providers.base import MalformedEvent, malformed
from payments_engine.activities.providers.issuer.wire import (
    PROVIDER_NAME,
    AuthorizationAnswerWire,
    AuthorizationRequestWire,
)
from payments_engine.domain.card import AuthorizationDecision, AuthorizationRequest, MerchantInfo
from payments_engine.domain.errors import ValidationFailed
from payments_engine.domain.money import Money


def parse_authorization(body: bytes) -> tuple[str, AuthorizationRequest]:
    """Read a verified authorization request: (our card reference, the request).

    ``respond_by`` is the issuer's own deadline; the relay moves it earlier by its margin.

    Raises:
        MalformedEvent: not a valid request (fields, amount, currency we do not serve).
    """
    try:
        wire = AuthorizationRequestWire.model_validate_json(body)
        request = AuthorizationRequest(
            authorization_id=wire.authorization_id,
            amount=Money(amount=wire.amount, currency=wire.currency),
            merchant=MerchantInfo(
                name=wire.merchant.name, mcc=wire.merchant.mcc, country=wire.merchant.country
            ),
            partial_allowed=wire.partial_allowed,
            respond_by=wire.respond_by,
        )
    except ValidationError as exc:
        raise malformed(PROVIDER_NAME, exc) from None
    except ValidationFailed as exc:
        raise MalformedEvent(f"invalid {PROVIDER_NAME} authorization: {exc}") from None
    return wire.card_reference, request


def render_answer(decision: AuthorizationDecision) -> dict[str, object]:
    """Our decision as the issuer wants it answered."""
    return AuthorizationAnswerWire(
        authorization_id=decision.authorization_id,
        result="APPROVED" if decision.approved else "DECLINED",
        approved_amount=decision.approved_amount if decision.approved else 0,
        decline_reason=None if decision.decline_reason is None else decision.decline_reason.value,
    ).model_dump()
