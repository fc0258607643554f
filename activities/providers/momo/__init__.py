"""An MTN MoMo-shaped provider: disbursements (payouts) and collections (request to pay);
UUID reference ids, 202 without a body, one callback never retried (polling is the
fallback), Standard Webhooks signatures. No refunds. Its float is the disbursement
account's balance.

Its magic numbers live with its simulator (``sandbox/momo``); the README lists them.
"""

from payments_engine.activities.providers.base import ProviderSpec
from payments_engine.activities.providers.momo.adapter import MomoPayouts, auth_headers
from payments_engine.activities.providers.momo.collections import MomoCollections
from payments_engine.activities.providers.momo.floats import MomoFloats
from payments_engine.activities.providers.momo.settings import MomoSettings
from payments_engine.activities.providers.momo.settlements import SETTLEMENT_REPORT
from payments_engine.activities.providers.momo.webhooks import translate
from payments_engine.activities.providers.momo.wire import PROVIDER_NAME
from payments_engine.domain.webhooks import STANDARD_WEBHOOKS

SPEC = ProviderSpec(
    name=PROVIDER_NAME,
    settings_type=MomoSettings,
    signature=STANDARD_WEBHOOKS,
    translate=translate,
    auth_headers=auth_headers,
    sandbox_path="/momo",
    payouts=MomoPayouts,
    collections=MomoCollections,
    settlement_report=SETTLEMENT_REPORT,
    floats=MomoFloats,
)
