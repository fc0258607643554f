"""The mobile-wallet hub (MFS Africa shape): payouts, collections and their refunds.

It states its float (the prefunded balance it pays out from) at ``GET /v1/balance``.

Its webhooks are signed ``X-Signature`` (``t=,v1=``).

Its magic numbers live with its simulator (``sandbox/hub``); the README lists them.
"""

from payments_engine.activities.providers.base import ProviderSpec
from payments_engine.activities.providers.hub.adapter import HubPayouts, auth_headers
from payments_engine.activities.providers.hub.collections import HubCollections
from payments_engine.activities.providers.hub.floats import HubFloats
from payments_engine.activities.providers.hub.refunds import HubRefunds
from payments_engine.activities.providers.hub.settings import HubSettings
from payments_engine.activities.providers.hub.settlements import SETTLEMENT_REPORT
from payments_engine.activities.providers.hub.webhooks import translate
from payments_engine.activities.providers.hub.wire import PROVIDER_NAME
from payments_engine.domain.webhooks import HMAC_T_V1

SPEC = ProviderSpec(
    name=PROVIDER_NAME,
    settings_type=HubSettings,
    signature=HMAC_T_V1,
    translate=translate,
    auth_headers=auth_headers,
    sandbox_path="/hub",
    payouts=HubPayouts,
    collections=HubCollections,
    refunds=HubRefunds,
    settlement_report=SETTLEMENT_REPORT,
    floats=HubFloats,
)
