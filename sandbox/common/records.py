"""What every simulator records of a transfer besides its provider's own fields.

A transfer has a status, an executed flag, its creation and update times, the plan of
status steps still to come and two counters; :class:`TransferRecord` holds them and each
simulator subclasses it with its order, scenario and provider fields. Times that schedule
something (a step's ``at``) are seconds of the store's scheduling clock, Unix seconds by
default; timestamps shown to clients are aware UTC datetimes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from payments_engine.sandbox.common.persistence import (
    Document,
    decode_required_time,
    encode_time,
)

KIND = "transfer"


class Status(Protocol):
    """What the common machinery asks of a provider's status."""

    @property
    def value(self) -> str:
        """The provider's code of the status."""
        ...

    @property
    def is_final(self) -> bool:
        """True once the transfer can no longer change."""
        ...


class Step(Protocol):
    """What the common machinery asks of a planned status step."""

    @property
    def at(self) -> float:
        """When the step is due, on the store's scheduling clock."""
        ...


StatusT = TypeVar("StatusT", bound=Status)
StepT = TypeVar("StepT", bound=Step)


@dataclass(eq=False, kw_only=True)
class TransferRecord(ABC, Generic[StatusT, StepT]):
    """One transfer as a simulator records it; subclasses add the provider's fields.

    Attributes:
        status: the provider's status of the transfer now.
        executed: the money left the float and stays out: true while an accepted
            transfer is pending or once it succeeded; false for refused and failed ones.
        plan: the status steps still to come, earliest first.
        submit_count: submissions that carried the transfer's key (repeats included).
        status_queries: status queries that asked for it.
    """

    status: StatusT
    executed: bool
    created_at: datetime
    updated_at: datetime
    plan: list[StepT] = field(default_factory=list)
    submit_count: int = 1
    status_queries: int = 0

    @property
    @abstractmethod
    def record_id(self) -> str:
        """The key the simulator files the transfer under (its idempotency key)."""


def encode_progress(transfer: TransferRecord[Any, Any], plan: list[list[Any]]) -> Document:
    """The fields every transfer document ends with: its times, plan and counters.

    Args:
        transfer: the transfer.
        plan: its remaining steps, each encoded by the simulator as a JSON list.
    """
    return {
        "created_at": encode_time(transfer.created_at),
        "updated_at": encode_time(transfer.updated_at),
        "plan": plan,
        "submit_count": transfer.submit_count,
        "status_queries": transfer.status_queries,
    }


def decode_progress(document: Document) -> dict[str, Any]:
    """The :class:`TransferRecord` arguments :func:`encode_progress` wrote, but the plan."""
    return {
        "created_at": decode_required_time(document["created_at"]),
        "updated_at": decode_required_time(document["updated_at"]),
        "submit_count": int(document["submit_count"]),
        "status_queries": int(document["status_queries"]),
    }
