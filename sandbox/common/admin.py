"""Admin routes every simulator has: transfers, scenarios, faults, the webhook log, reset.

No authentication: the sandbox is a local tool. Each simulator brings its own views of
its transfers, scenarios and webhooks, adds any routes of its own and mounts the result
under its admin prefix.
"""

# No ``from __future__ import annotations``: FastAPI must see the route functions'
# ``Depends(get_state)`` and body models of the closure, which a string would hide.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Protocol, Self

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from payments_engine.domain.money import MAX_MINOR_DIGITS, parse_currency
from payments_engine.sandbox.common.faults import Faults
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.scenarios import MagicScenario
from payments_engine.sandbox.common.state import SimulatorState
from payments_engine.sandbox.common.store import ResolveRefused, TransferNotFound


class AdminDelivery(BaseModel):
    """One webhook delivery: pending, delivered or given up.

    Attributes:
        delivery_id: the delivery's id, also the signed message id.
        reference: the client's reference of the transfer it reports on.
        url: where it is POSTed.
        attempts: attempts made so far.
        gave_up: the last attempt failed and no other will be made.
        last_http_status: the receiver's answer to the last attempt; None if it failed
            before an answer (connection error, timeout).
    """

    model_config = ConfigDict(populate_by_name=True)

    delivery_id: str
    reference: str
    status: str
    url: str
    attempts: int
    delivered: bool
    gave_up: bool
    last_http_status: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None

    @classmethod
    def fields_of(cls, delivery: Delivery) -> dict[str, Any]:
        """The common fields of the admin view of ``delivery``."""
        return {
            "delivery_id": delivery.delivery_id,
            "reference": delivery.reference,
            "status": delivery.status,
            "url": delivery.url,
            "attempts": delivery.attempts,
            "delivered": delivery.delivered,
            "gave_up": delivery.gave_up,
            "last_http_status": delivery.last_http_status,
            "last_error": delivery.last_error,
            "created_at": delivery.created_at,
            "last_attempt_at": delivery.last_attempt_at,
        }

    @classmethod
    def of(cls, delivery: Delivery) -> "AdminDelivery":
        """The admin view of a delivery."""
        return cls(**cls.fields_of(delivery))


class FloatSetting(BaseModel):
    """Body of ``PUT /float``: the float one currency must hold from now on.

    Attributes:
        currency: ISO 4217, a currency the engine pays in (``kes`` is read as KES).
        amount: minor units, 0 or more.
    """

    model_config = ConfigDict(extra="forbid")

    currency: str
    amount: int = Field(ge=0, lt=10**MAX_MINOR_DIGITS)

    @field_validator("currency")
    @classmethod
    def _served(cls, value: str) -> str:
        return parse_currency(value)


class TransferView(Protocol):
    """A simulator's admin view of a transfer: a pydantic model made by :meth:`of`."""

    @classmethod
    def of(cls, transfer: Any) -> Any:
        """The admin view of a stored transfer."""
        ...


class Resolution(Protocol):
    """The body of a forced resolution: a pydantic model that knows how to apply itself."""

    def apply(self, store: Any, key: str) -> Any:
        """Force this resolution on the transfer ``key`` of ``store`` and return it.

        Raises:
            TransferNotFound: no transfer is filed under ``key``.
            ResolveRefused: the resolution cannot be applied.
        """
        ...


class ScenarioView(BaseModel):
    """A magic-number scenario, for tools and docs; subclasses declare what they show.

    Every field but ``scenario`` is the scenario's property of the same name.
    """

    @classmethod
    def of(cls, scenario: MagicScenario) -> Self:
        """The view of ``scenario``."""
        shown = {name: getattr(scenario, name) for name in cls.model_fields if name != "scenario"}
        return cls(scenario=scenario, **shown)


StateGetter = Callable[[Request], SimulatorState[Any, Any]]


def _unchanged(key: str) -> str:
    return key


def add_transfer_routes(
    router: APIRouter,
    get_state: StateGetter,
    key: str,
    view: type[TransferView],
    resolution: type[Resolution],
    *,
    canonical: Callable[[str], str] = _unchanged,
) -> None:
    """Add ``GET /transfers``, ``GET /transfers/{key}`` and ``POST .../{key}/resolve``.

    Each route first applies the planned steps that are due, so it shows the transfers as
    they are now; reading one counts no status query. An unknown transfer is a 404, a
    resolution the store refuses a 409.

    Args:
        router: the simulator's admin router.
        get_state: FastAPI dependency returning the simulator's state.
        key: the path parameter naming a transfer, by the key its store files it under.
        view: the simulator's view of a transfer.
        resolution: the body of a forced resolution.
        canonical: the form the store files a key in, from the path's.
    """
    transfer_path = f"/transfers/{{{key}}}"

    def not_found() -> HTTPException:
        return HTTPException(status.HTTP_404_NOT_FOUND, "no such transfer")

    @router.get("/transfers", response_model=list[view])  # type: ignore[valid-type]
    async def list_transfers(
        state: Annotated[SimulatorState[Any, Any], Depends(get_state)],
    ) -> list[Any]:
        """Every transfer the simulator holds, oldest first."""
        state.store.advance()
        return [view.of(transfer) for transfer in state.store.transfers()]

    @router.get(transfer_path, response_model=view)
    async def get_transfer(
        reference: Annotated[str, Path(alias=key)],
        state: Annotated[SimulatorState[Any, Any], Depends(get_state)],
    ) -> Any:
        """One transfer, without counting a status query."""
        state.store.advance()
        transfer = state.store.get(canonical(reference))
        if transfer is None:
            raise not_found()
        return view.of(transfer)

    @router.post(f"{transfer_path}/resolve", response_model=view)
    async def resolve_transfer(
        reference: Annotated[str, Path(alias=key)],
        body: resolution,  # type: ignore[valid-type]
        state: Annotated[SimulatorState[Any, Any], Depends(get_state)],
    ) -> Any:
        """Force a pending transfer's final status now, and send its webhook."""
        state.store.advance()
        # The body's model is only known at run time: type-check it as a Resolution.
        request: Resolution = body
        try:
            transfer = request.apply(state.store, canonical(reference))
        except TransferNotFound:
            raise not_found() from None
        except ResolveRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return view.of(transfer)


def add_scenario_route(
    router: APIRouter, scenarios: type[MagicScenario], view: type[ScenarioView]
) -> None:
    """Add ``GET /scenarios``: every magic-number scenario of the simulator.

    Args:
        router: the simulator's admin router.
        scenarios: the simulator's scenarios.
        view: how a scenario is shown.
    """

    @router.get("/scenarios", response_model=list[view])  # type: ignore[valid-type]
    async def list_scenarios() -> list[ScenarioView]:
        """The magic-number scenarios."""
        return [view.of(scenario) for scenario in scenarios]


def add_operation_routes(
    router: APIRouter, get_state: StateGetter, delivery_model: type[AdminDelivery]
) -> None:
    """Add ``GET|PUT /faults``, ``GET|PUT /float``, ``GET /webhooks`` and ``POST /reset``.

    Args:
        router: the simulator's admin router.
        get_state: FastAPI dependency returning the simulator's state.
        delivery_model: the simulator's view of a webhook delivery.
    """

    # Inline Annotated: mypy refuses a local alias as a type.
    @router.get("/faults", response_model=Faults)
    async def get_faults(state: Annotated[SimulatorState[Any, Any], Depends(get_state)]) -> Faults:
        """The faults in force."""
        faults: Faults = state.store.faults
        return faults

    @router.put("/faults", response_model=Faults)
    async def put_faults(
        faults: Faults, state: Annotated[SimulatorState[Any, Any], Depends(get_state)]
    ) -> Faults:
        """Replace the faults; fields left out are switched off."""
        state.store.faults = faults
        return faults

    @router.get("/float", response_model=dict[str, int])
    async def get_float(
        state: Annotated[SimulatorState[Any, Any], Depends(get_state)],
    ) -> dict[str, int]:
        """The float per currency, minor units (what its balance API shows in major)."""
        state.store.advance()
        balances: dict[str, int] = state.store.floats.balances()
        return balances

    @router.put("/float", response_model=dict[str, int])
    async def put_float(
        setting: FloatSetting, state: Annotated[SimulatorState[Any, Any], Depends(get_state)]
    ) -> dict[str, int]:
        """Set one currency's float (minor units); answer the float per currency.

        Kept in the state file like any change of the float; ``POST /reset`` restores
        the configured floats.
        """
        state.store.advance()
        state.store.floats.set(setting.currency, setting.amount)
        balances: dict[str, int] = state.store.floats.balances()
        return balances

    @router.get("/webhooks", response_model=list[delivery_model])  # type: ignore[valid-type]
    async def list_webhooks(
        state: Annotated[SimulatorState[Any, Any], Depends(get_state)],
    ) -> list[AdminDelivery]:
        """The webhook delivery log, oldest first, with attempts and the last answer."""
        return [delivery_model.of(delivery) for delivery in state.store.deliveries()]

    @router.post("/reset")
    async def reset(
        state: Annotated[SimulatorState[Any, Any], Depends(get_state)],
    ) -> dict[str, bool]:
        """Forget every transfer and webhook, clear the faults and restore the floats.

        A state file, if any, is emptied too.
        """
        if state.dispatcher is not None:
            state.dispatcher.cancel_deliveries()
        state.store.reset()
        return {"reset": True}
