"""A bank-transfer provider (ACH/PSE in Colombia, SPEI in Mexico): refunds of cash orders.

Cash is never refunded as cash: a cash order's refund is a transfer to the payer's own
bank account. Transfers are idempotent by our reference (``external_id``), settle or are
returned a day later, and are announced by Standard Webhooks. Refunds only.

Its magic account numbers live with its simulator (``sandbox/bank``); the README lists them.
"""

from payments_engine.activities.providers.bank.adapter import BankRefunds, auth_headers
from payments_engine.activities.providers.bank.settings import BankSettings
from payments_engine.activities.providers.bank.settlements import SETTLEMENT_REPORT
from payments_engine.activities.providers.bank.webhooks import translate
from payments_engine.activities.providers.bank.wire import PROVIDER_NAME
from payments_engine.activities.providers.base import ProviderSpec
from payments_engine.domain.webhooks import STANDARD_WEBHOOKS

SPEC = ProviderSpec(
    name=PROVIDER_NAME,
    settings_type=BankSettings,
    signature=STANDARD_WEBHOOKS,
    translate=translate,
    auth_headers=auth_headers,
    sandbox_path="/bank",
    refunds=BankRefunds,
    settlement_report=SETTLEMENT_REPORT,
)
