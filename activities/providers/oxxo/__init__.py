"""An OXXO-shaped cash network (Stripe's OXXO vouchers, Mexico): vouchers paid in cash at
OXXO shops, 10.00 to 10,000.00 MXN, expiring at 23:59:59 Mexico City time 1 to 7 days
ahead (default 3); detail-free notifications (an event id and our reference) signed with
Standard Webhooks, so the engine always reads the voucher.

Its magic values live with its simulator (``sandbox/cash/scenarios.py``, shared with
Efecty); the README lists them.
"""

from payments_engine.activities.providers.base import ProviderSpec
from payments_engine.activities.providers.oxxo.adapter import OxxoVouchers, auth_headers
from payments_engine.activities.providers.oxxo.settings import OxxoSettings
from payments_engine.activities.providers.oxxo.settlements import SETTLEMENT_REPORT
from payments_engine.activities.providers.oxxo.webhooks import translate
from payments_engine.activities.providers.oxxo.wire import PROVIDER_NAME
from payments_engine.domain.cash import VoucherRules
from payments_engine.domain.webhooks import STANDARD_WEBHOOKS

RULES = VoucherRules(
    network="OXXO",
    country="MX",
    currency="MXN",
    min_amount=1_000,
    max_amount=1_000_000,
    default_expiry_days=3,
    min_expiry_days=1,
    max_expiry_days=7,
    timezone="America/Mexico_City",
)
"""10.00 to 10,000.00 MXN, 1 to 7 days (default 3), Mexico City's calendar."""

SPEC = ProviderSpec(
    name=PROVIDER_NAME,
    settings_type=OxxoSettings,
    signature=STANDARD_WEBHOOKS,
    translate=translate,
    auth_headers=auth_headers,
    sandbox_path="/oxxo",
    vouchers=OxxoVouchers,
    voucher_rules=RULES,
    settlement_report=SETTLEMENT_REPORT,
)
