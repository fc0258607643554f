"""Old import path of the hub's configuration and the faults; see :mod:`.hub.config`."""

from payments_engine.sandbox.common.config import (
    DEFAULT_FLOAT_CURRENCIES,
    DEFAULT_FLOAT_MINOR,
    DEFAULT_RETRY_DELAYS,
)
from payments_engine.sandbox.common.faults import Faults
from payments_engine.sandbox.hub.config import SandboxConfig

__all__ = [
    "DEFAULT_FLOAT_CURRENCIES",
    "DEFAULT_FLOAT_MINOR",
    "DEFAULT_RETRY_DELAYS",
    "Faults",
    "SandboxConfig",
]
