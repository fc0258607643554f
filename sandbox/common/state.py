"""Per-app state of one simulator, reached from request handlers through ``app.state``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Generic, TypeVar

from payments_engine.sandbox.common.dispatcher import WebhookDispatcher
from payments_engine.sandbox.common.store import SimulatorStore

ConfigT = TypeVar("ConfigT")
StoreT = TypeVar("StoreT", bound=SimulatorStore)


@dataclass
class SimulatorState(Generic[ConfigT, StoreT]):
    """Everything one simulator in an app owns; nothing is module-global.

    Attributes:
        config: the configuration the simulator was created with.
        store: its transfers, float, faults and webhooks.
        rng: the fault dice, seeded from the configuration's seed.
        dispatcher: the background scheduler while the app's lifespan runs, else None.
    """

    config: ConfigT
    store: StoreT
    rng: random.Random
    dispatcher: WebhookDispatcher | None = None

    def roll(self, rate: float) -> bool:
        """True with probability ``rate`` (never for 0, always for 1)."""
        return rate > 0 and self.rng.random() < rate
