"""A card issuer and network (Lithic / Stripe Issuing shape): cardholders with KYC,
virtual prepaid cards (a token and the last four, never the number), synchronous
authorization requests answered by the card's workflow, and network events (captures,
reversals, expiries, refunds) as Standard Webhooks.

Its magic values live with its simulator (``sandbox/issuer``); the README lists them.
"""

from payments_engine.activities.providers.base import AuthorizationCodec, ProviderSpec
from payments_engine.activities.providers.issuer.adapter import IssuerCards, auth_headers
from payments_engine.activities.providers.issuer.authorizations import (
    parse_authorization,
    render_answer,
)
from payments_engine.activities.providers.issuer.settings import IssuerSettings
from payments_engine.activities.providers.issuer.settlements import SETTLEMENT_REPORT
from payments_engine.activities.providers.issuer.webhooks import translate
from payments_engine.activities.providers.issuer.wire import PROVIDER_NAME
from payments_engine.domain.webhooks import STANDARD_WEBHOOKS

SPEC = ProviderSpec(
    name=PROVIDER_NAME,
    settings_type=IssuerSettings,
    signature=STANDARD_WEBHOOKS,
    translate=translate,
    auth_headers=auth_headers,
    sandbox_path="/issuer",
    cards=IssuerCards,
    authorizations=AuthorizationCodec(parse=parse_authorization, answer=render_answer),
    settlement_report=SETTLEMENT_REPORT,
)
