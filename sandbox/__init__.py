"""Local simulators of payment providers, with their API shapes and failure modes.

:func:`create_sandbox_app` builds one FastAPI app serving each simulator:

* the mobile-wallet hub (MFS Africa shape, :mod:`.hub`): its API under ``/hub``, its
  admin under ``/admin``;
* MTN MoMo disbursements (:mod:`.momo`), when configured: its API under ``/momo``, its
  admin under ``/admin/momo``.

Magic phone numbers select failure scenarios the way test card numbers do, and each
admin API injects faults and shows what its provider really executed. The machinery the
simulators share (store, webhook outbox, dispatcher, faults, persistence, magic numbers,
admin routes) is in :mod:`.common`.
"""

from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.common.faults import Faults
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.scenarios import Scenario, scenario_for
from payments_engine.sandbox.momo.config import MomoSandboxConfig

__all__ = [
    "Faults",
    "MomoSandboxConfig",
    "SandboxConfig",
    "Scenario",
    "create_sandbox_app",
    "scenario_for",
]
