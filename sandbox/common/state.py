"""Per-app state of one simulator, reached from request handlers through ``app.state``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

import httpx

from payments_engine.sandbox.common.config import SimulatorConfig
from payments_engine.sandbox.common.dispatcher import WebhookDispatcher
from payments_engine.sandbox.common.store import SimulatorStore

DispatcherT = TypeVar("DispatcherT", bound=WebhookDispatcher)

ConfigT = TypeVar("ConfigT", bound=SimulatorConfig)
StoreT = TypeVar("StoreT", bound=SimulatorStore[Any, Any])


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

    @classmethod
    def create(cls, store: StoreT) -> Self:
        """A simulator on ``store`` and its configuration, with fault dice seeded from it."""
        config: ConfigT = store.config
        return cls(config=config, store=store, rng=random.Random(config.seed))

    def roll(self, rate: float) -> bool:
        """True with probability ``rate`` (never for 0, always for 1)."""
        return rate > 0 and self.rng.random() < rate


def simulator_dispatcher(
    store: SimulatorStore[Any, Any],
    config: SimulatorConfig,
    client: httpx.AsyncClient,
    *,
    wall_time: Callable[[], float] = time.time,
    kind: type[DispatcherT] = WebhookDispatcher,  # type: ignore[assignment]
) -> DispatcherT:
    """The background scheduler of a simulator: its store, signature scheme and timings.

    Args:
        store: the simulator's store; its provider names the loop and its log lines.
        config: its signature scheme, webhook secret and timings.
        client: the HTTP client webhooks are POSTed with.
        wall_time: Unix seconds, for the signature timestamps.
        kind: the dispatcher class, for a simulator with its own (the issuer's).
    """
    return kind(
        store,
        client,
        scheme=config.signature_scheme,
        secret=config.webhook_secret,
        timeout_seconds=config.webhook_timeout_seconds,
        tick_seconds=config.tick_seconds,
        name=store.provider,
        wall_time=wall_time,
    )
