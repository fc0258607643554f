"""An Efecty-shaped cash network (PayU's ``EFECTY`` method, Colombia): vouchers paid in
cash at Efecty points, whole COP from 20,000 to 6,000,000, expiring in up to 7 days;
confirmations on final states only, signed ``X-Signature`` and retried up to 9 times.

Its magic values live with its simulator (``sandbox/cash/scenarios.py``, shared with
OXXO); the README lists them.
"""

from payments_engine.activities.providers.base import ProviderSpec
from payments_engine.activities.providers.efecty.adapter import EfectyVouchers, auth_headers
from payments_engine.activities.providers.efecty.settings import EfectySettings
from payments_engine.activities.providers.efecty.settlements import SETTLEMENT_REPORT
from payments_engine.activities.providers.efecty.webhooks import translate
from payments_engine.activities.providers.efecty.wire import PROVIDER_NAME
from payments_engine.domain.cash import VoucherRules
from payments_engine.domain.webhooks import HMAC_T_V1

RULES = VoucherRules(
    network="Efecty",
    country="CO",
    currency="COP",
    min_amount=2_000_000,
    max_amount=600_000_000,
    whole_units=True,
    default_expiry_days=7,
    min_expiry_days=1,
    max_expiry_days=7,
    timezone="America/Bogota",
)
"""20,000 to 6,000,000 COP in whole pesos, 1 to 7 days (default 7), Bogota's calendar."""

SPEC = ProviderSpec(
    name=PROVIDER_NAME,
    settings_type=EfectySettings,
    signature=HMAC_T_V1,
    translate=translate,
    auth_headers=auth_headers,
    sandbox_path="/efecty",
    vouchers=EfectyVouchers,
    voucher_rules=RULES,
    settlement_report=SETTLEMENT_REPORT,
)
