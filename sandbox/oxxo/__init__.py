"""The OXXO simulator: Stripe-shaped OXXO vouchers, paid in cash at OXXO shops in Mexico.

Its API is served under ``/oxxo`` (:mod:`.oxxo_api`), its admin under ``/admin/oxxo``
(:mod:`.admin_api`); the payer's document number chooses what happens to a voucher
(:mod:`payments_engine.sandbox.cash.scenarios`, the same table as Efecty's); :mod:`.wire`
holds its own JSON shapes. Notifications carry no details (an event id and our
reference), are signed with Standard Webhooks and retried.
"""

from payments_engine.sandbox.oxxo.config import OxxoSandboxConfig
from payments_engine.sandbox.oxxo.state import OxxoState, oxxo_dispatcher
from payments_engine.sandbox.oxxo.store import OxxoStore

__all__ = ["OxxoSandboxConfig", "OxxoState", "OxxoStore", "oxxo_dispatcher"]
