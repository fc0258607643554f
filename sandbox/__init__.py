"""Local simulators of payment providers, with their API shapes and failure modes.

The mobile-wallet hub (MFS Africa shape) is the first: :func:`create_sandbox_app` builds
a FastAPI app serving the hub API under ``/hub`` and an admin API under ``/admin``. Magic
phone numbers (:mod:`sandbox.scenarios`) select failure scenarios the way test card
numbers do, and the admin API injects faults and shows what the hub really executed.
"""

from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.config import Faults, SandboxConfig
from payments_engine.sandbox.scenarios import Scenario, scenario_for

__all__ = ["Faults", "SandboxConfig", "Scenario", "create_sandbox_app", "scenario_for"]
