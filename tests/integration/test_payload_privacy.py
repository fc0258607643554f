"""No personal data in clear in Temporal: a payout's history read without the codec.

A payout runs on the stack (whose clients and worker encrypt every payload). A client
with NO codec then reads its whole history, memo, search attributes and id, as anyone
with access to Temporal (or its database) could: the recipient's number, the amount
and the merchant's description are nowhere in clear. With the codec, and through the
codec server the Web UI uses, the same payloads decode.

The amount is the one exception, and on purpose: it is the ``AmountMinor`` search
attribute (DESIGN: typed search attributes let operators filter payouts by amount),
and search attributes are indexed by Temporal, so no codec can encrypt them. The test
pins that it appears there and nowhere else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client

from payments_engine.domain.payout import PayoutRequest, PayoutStatus
from payments_engine.runtime.codec import ENCODING
from payments_engine.runtime.codec_server import start_codec_server, ui_origins
from payments_engine.runtime.serving import RunningServer
from payments_engine.starter.client import FINGERPRINT_MEMO, PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import SUCCESS_NUMBER, payout

pytestmark = pytest.mark.integration

DESCRIPTION = "Invoice INV-58213 Amani kiosk"
# The number as E.164, as digits, and as typed nationally.
NUMBER_FORMS = [SUCCESS_NUMBER, SUCCESS_NUMBER.lstrip("+"), "0" + SUCCESS_NUMBER[4:]]
AMOUNT_FORMS = ["150000", "1500.00", "1,500.00", "1500.0"]


def _payloads(message: Message) -> Iterator[Payload]:
    """Every Payload inside ``message``, however deep."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            items = list(value.values())
        elif isinstance(value, Message):
            items = [value]
        else:
            items = list(value)
        for item in items:
            yield from _payloads(item)


def _without_search_attributes(event: HistoryEvent) -> HistoryEvent:
    stripped = HistoryEvent()
    stripped.CopyFrom(event)
    kind = stripped.WhichOneof("attributes")
    if kind in (
        "workflow_execution_started_event_attributes",
        "upsert_workflow_search_attributes_event_attributes",
    ):
        getattr(stripped, kind).ClearField("search_attributes")
    return stripped


def _absent(needles: list[str], haystack: bytes, where: str) -> None:
    for needle in needles:
        assert needle.encode() not in haystack, f"{needle!r} in clear in {where}"


@pytest.fixture
async def codec_server(stack: EngineStack) -> AsyncIterator[RunningServer]:
    """The codec server `payments dev` runs, with the stack's keys, on a free port."""
    server = await start_codec_server(stack.settings.model_copy(update={"codec_port": 0}))
    yield server
    await server.stop()


@pytest.fixture
async def plain_client(stack: EngineStack) -> Client:
    """A client with no codec: what anyone who can reach Temporal sees."""
    return await Client.connect(
        stack.settings.temporal_address, namespace=stack.settings.temporal_namespace
    )


async def test_a_payout_leaves_no_personal_data_in_clear_in_temporal(
    stack: EngineStack,
    merchant: str,
    payments: PaymentsClient,
    plain_client: Client,
    codec_server: RunningServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    request = payout(merchant, description=DESCRIPTION)
    await payments.create_payout(request)
    view = await payments.wait_payout(request.payout_id)
    assert view.status is PayoutStatus.SUCCEEDED

    # --- without the codec: the history, memo, search attributes and id ---
    handle = plain_client.get_workflow_handle(request.workflow_id)
    events = list((await handle.fetch_history()).events)
    raw = History(events=events).SerializeToString()
    _absent([*NUMBER_FORMS, DESCRIPTION, "INV-58213", "Amani"], raw, "the history")
    without_attributes = History(events=[_without_search_attributes(e) for e in events])
    _absent(AMOUNT_FORMS, without_attributes.SerializeToString(), "the history's payloads")

    # Every payload is ciphertext, but the SDK's patch markers (a patch id, written by
    # the SDK's core below any codec).
    clear = [
        (EventType.Name(event.event_type), payload)
        for event in without_attributes.events
        for payload in _payloads(event)
        if payload.metadata.get("encoding") != ENCODING
    ]
    assert {name for name, _ in clear} <= {"EVENT_TYPE_MARKER_RECORDED"}, clear
    encrypted = [p for e in without_attributes.events for p in _payloads(e)]
    assert len(encrypted) > len(clear) + 5

    info = (await handle.describe()).raw_description.workflow_execution_info
    memo = info.memo.SerializeToString()
    _absent([*NUMBER_FORMS, *AMOUNT_FORMS, DESCRIPTION], memo, "the memo")
    assert info.memo.fields[FINGERPRINT_MEMO].metadata["encoding"] == ENCODING
    attributes = info.search_attributes.SerializeToString()
    _absent([*NUMBER_FORMS, DESCRIPTION, "Amani"], attributes, "the search attributes")
    # The amount is a search attribute by design (see the module docstring), only there.
    assert info.search_attributes.indexed_fields["AmountMinor"].data == b"150000"
    _absent([*NUMBER_FORMS, "712345", "INV-58213"], request.workflow_id.encode(), "the id")

    # --- the memo fingerprint is keyed ---
    key = stack.settings.fingerprint_key
    assert key is not None
    description = await stack.client.get_workflow_handle(request.workflow_id).describe()
    stored = await description.memo_value(FINGERPRINT_MEMO)
    assert stored == request.fingerprint(key.get_secret_value().encode())
    # The attack: recompute it from a guessed number. Without the key, even the
    # right guess does not match.
    assert stored != request.fingerprint()

    # --- with the codec, the same history decodes ---
    decoding = stack.client.get_workflow_handle(request.workflow_id)
    started = (await decoding.fetch_history()).events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    [recorded] = await stack.client.data_converter.decode(
        started.workflow_execution_started_event_attributes.input.payloads, [PayoutRequest]
    )
    assert recorded == request
    assert recorded.recipient_msisdn == SUCCESS_NUMBER and recorded.description == DESCRIPTION

    # --- and through the codec server, as the Web UI asks it: the activity input the
    # worker wrote (submit_payout carries the number to the provider) ---
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    submit = next(a for a in scheduled if a.activity_type.name == "submit_payout")
    body = json_format.MessageToDict(Payloads(payloads=submit.input.payloads))
    origin = ui_origins(stack.settings)[0]
    async with httpx.AsyncClient(base_url=codec_server.url) as http:
        answer = await http.post(
            "/decode",
            json=body,
            headers={
                "Content-Type": "application/json",
                "X-Namespace": stack.settings.temporal_namespace,
                "Origin": origin,
            },
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == origin
    [submitted] = [
        json.loads(p.data) for p in json_format.ParseDict(answer.json(), Payloads()).payloads
    ]
    assert submitted["msisdn"] == SUCCESS_NUMBER
    assert submitted["amount"] == {"amount": 150000, "currency": "KES"}

    # --- nor in this process's logs (client, worker, relay, sandbox) ---
    _absent([*NUMBER_FORMS, DESCRIPTION], caplog.text.encode(), "the logs")


async def test_a_reused_id_with_another_number_is_still_refused_without_a_key(
    stack: EngineStack, merchant: str, payments: PaymentsClient
) -> None:
    """A client without the fingerprint key stores none; the recorded request decides."""
    from payments_engine.domain.errors import ReferenceConflict

    keyless = PaymentsClient(stack.client, stack.settings.task_queue)
    request = payout(merchant)
    await keyless.create_payout(request)
    assert (await keyless.create_payout(request)).payout_id == request.payout_id
    # The keyed client finds no fingerprint, and compares the recorded request as well.
    assert (await payments.create_payout(request)).payout_id == request.payout_id
    other: dict[str, Any] = {"recipient_msisdn": "+254712345679"}
    for client in (keyless, payments):
        with pytest.raises(ReferenceConflict):
            await client.create_payout(request.model_copy(update=other))
    description = await stack.client.get_workflow_handle(request.workflow_id).describe()
    assert await description.memo_value(FINGERPRINT_MEMO, None) is None
    await payments.wait_payout(request.payout_id)
