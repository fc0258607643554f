"""Each payout provider's facts for the shared integration tests: numbers, statuses, paths.

The tests in ``test_provider_contract.py`` run once per :data:`CASES` entry: a new
provider passes the same scenario and exactly-once tests by adding its case here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx

from payments_engine.activities.providers.momo.adapter import reference_id
from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.domain.money import Money
from payments_engine.starter.stack import EngineStack


class Behaviour(StrEnum):
    """What a provider does with a payout; each case names its magic number for each."""

    SUCCESS = "success"
    REFUSED = "refused"
    """It fails the transfer for want of money at the payer (nothing executed)."""
    ANSWER_LOST = "answer_lost"
    """It executes at once but the answer to the submission comes after the timeout."""
    CALLBACK_LOST = "callback_lost"
    """It pays, but no webhook ever comes: only polling finds out."""
    LATE_SUCCESS = "late_success"
    NEVER_RESOLVES = "never_resolves"


@dataclass(frozen=True)
class ProviderCase:
    """One provider as the shared tests see it.

    Attributes:
        name: its registry name.
        numbers: a Kenyan number per behaviour (its sandbox's magic numbers).
        paid: its status of a paid transfer.
        pending: its status of a transfer in flight.
        refused: (its status, our failure code) of the REFUSED behaviour.
        admin: the path of its simulator's admin API in the sandbox.
        resolve_failed: the body that forces a pending transfer to fail there, and the
            failure code it maps to.
        balance: (path, JSON field) of its float in KES.
        admin_id: how its admin API names a transfer, from our reference.
        callback: builds a webhook body of its own shape (reference, status, amount).
    """

    name: str
    numbers: dict[Behaviour, str]
    paid: str
    pending: str
    refused: tuple[str, str]
    admin: str
    resolve_failed: tuple[dict[str, str], str]
    balance: tuple[str, str]
    admin_id: Callable[[str], str]
    callback: Callable[[str, str, Money], bytes]

    def __str__(self) -> str:
        return self.name

    async def transfers(self, stack: EngineStack) -> dict[str, dict[str, Any]]:
        """Its simulator's own record of transfers, by our reference."""
        async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}{self.admin}") as admin:
            response = await admin.get("/transfers")
        response.raise_for_status()
        return {t["reference"]: t for t in response.json()}

    async def float_minor(self, stack: EngineStack) -> int:
        """Its float in KES at the simulator, in minor units."""
        path, field = self.balance
        settings = stack.settings.provider(self.name)
        headers = PROVIDERS[self.name].auth_headers(settings)
        async with httpx.AsyncClient(base_url=stack.sandbox_url, headers=headers) as http:
            response = await http.get(path)
        response.raise_for_status()
        answer = response.json()
        if "balances" in answer:
            answer = next(b for b in answer["balances"] if b["currency"] == "KES")
        return round(float(answer[field]) * 100)


def _hub_callback(reference: str, status: str, amount: Money) -> bytes:
    return json.dumps(
        {
            "eventId": f"evt-{uuid.uuid4().hex[:12]}",
            "thirdPartyTransId": reference,
            "transactionId": "MFS-FORGED",
            "status": status,
            "currency": amount.currency,
            "sendAmount": amount.to_major(),
            "receiveAmount": amount.to_major(),
            "timestamp": datetime.now(UTC).isoformat(),
        }
    ).encode()


def _momo_callback(reference: str, status: str, amount: Money) -> bytes:
    return json.dumps(
        {
            "amount": amount.to_major(),
            "currency": amount.currency,
            "externalId": reference,
            "financialTransactionId": "FT-FORGED",
            "payee": {"partyIdType": "MSISDN", "partyId": "254700123453"},
            "payerMessage": "",
            "payeeNote": "",
            "status": status,
        }
    ).encode()


HUB = ProviderCase(
    name="hub",
    numbers={
        Behaviour.SUCCESS: "+254712345678",
        Behaviour.REFUSED: "+254700000001",
        Behaviour.ANSWER_LOST: "+254700000005",
        Behaviour.CALLBACK_LOST: "+254700000006",
        Behaviour.LATE_SUCCESS: "+254700000008",
        Behaviour.NEVER_RESOLVES: "+254700000009",
    },
    paid="MR101",
    pending="MR102",
    refused=("ER102", "provider_insufficient_funds"),
    admin="/admin",
    resolve_failed=({"status": "ER103"}, "wallet_closed"),
    balance=("/hub/v1/balance", "available"),
    admin_id=lambda reference: reference,
    callback=_hub_callback,
)

MOMO = ProviderCase(
    name="momo",
    numbers={
        Behaviour.SUCCESS: "+254712345678",
        Behaviour.REFUSED: "+254700123451",
        Behaviour.ANSWER_LOST: "+254700123452",
        Behaviour.CALLBACK_LOST: "+254700123456",
        Behaviour.LATE_SUCCESS: "+254700123454",
        Behaviour.NEVER_RESOLVES: "+254700123453",
    },
    paid="SUCCESSFUL",
    pending="PENDING",
    refused=("FAILED", "provider_insufficient_funds"),
    admin="/admin/momo",
    resolve_failed=({"status": "FAILED", "reason": "PAYEE_NOT_FOUND"}, "invalid_msisdn"),
    balance=("/momo/disbursement/v1_0/account/balance?currency=KES", "availableBalance"),
    admin_id=reference_id,
    callback=_momo_callback,
)

CASES = [HUB, MOMO]
