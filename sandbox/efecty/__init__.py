"""The Efecty simulator: PayU's ``EFECTY`` cash method, vouchers paid in cash in Colombia.

Its API is served under ``/efecty`` (:mod:`.efecty_api`), its admin under
``/admin/efecty`` (:mod:`.admin_api`); the payer's document number chooses what happens
to a voucher (:mod:`payments_engine.sandbox.cash.scenarios`, the same table as OXXO's);
:mod:`.wire` holds its own JSON shapes. Confirmations are sent on final states only,
signed ``X-Signature`` (HMAC, ``t=..,v1=..``) and retried up to 9 times in all.
"""

from payments_engine.sandbox.efecty.config import EfectySandboxConfig
from payments_engine.sandbox.efecty.state import EfectyState
from payments_engine.sandbox.efecty.store import EfectyStore

__all__ = ["EfectySandboxConfig", "EfectyState", "EfectyStore"]
