"""Efecty's admin API (under ``/admin/efecty``): the cash networks' admin routes.

See :mod:`payments_engine.sandbox.cash.admin`: vouchers with their history, payments at
the shop, notifications and their resends, scenarios, faults, the delivery log, reset.
"""

from __future__ import annotations

from payments_engine.sandbox.cash.admin import admin_router
from payments_engine.sandbox.efecty.state import get_state

router = admin_router(get_state, "efecty")
