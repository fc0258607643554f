"""The merchant-hooks recorder: stands in for a merchant's stock and alert hooks.

The engine calls a merchant's stock hooks when a cash order is created (hold the goods)
and when it expires unpaid (release them), and raises alerts to it. In the sandbox this
recorder answers those calls under ``/merchant`` (:mod:`.merchant_api`) and shows what it
heard under ``/admin/merchant`` (:mod:`.admin_api`); each call's ``Idempotency-Key``
makes a retried call a recorded repeat that changes nothing.
"""

from payments_engine.sandbox.merchant.config import MerchantSandboxConfig
from payments_engine.sandbox.merchant.state import MerchantState
from payments_engine.sandbox.merchant.store import MerchantStore

__all__ = ["MerchantSandboxConfig", "MerchantState", "MerchantStore"]
