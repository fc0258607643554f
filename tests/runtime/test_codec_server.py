"""The codec server over HTTP, called the way the Temporal Web UI and CLI call it."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.contrib.pydantic import pydantic_data_converter

from payments_engine.runtime.codec import EncryptionCodec, Keyring, engine_data_converter
from payments_engine.runtime.codec_server import (
    CodecServerError,
    codec_app_from_settings,
    is_loopback,
    start_codec_server,
    ui_codec_endpoint,
)
from payments_engine.runtime.serving import RunningServer
from payments_engine.runtime.settings import Settings

TOKEN = "t" * 40
UI = "http://localhost:8233"
UI_BY_ADDRESS = "http://127.0.0.1:8233"
FOREIGN = "https://evil.example"
NUMBER = "+254712345678"
# What the Web UI sends with every call (its data-encoder service).
UI_HEADERS = {"Content-Type": "application/json", "X-Namespace": "default"}


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate("k1")


@pytest.fixture
def settings(keyring: Keyring, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        codec_keys=keyring.export(),
        codec_auth_token=SecretStr(TOKEN),
        codec_port=0,
        temporal_ui_port=8233,
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start_codec_server(settings)
    yield running
    await running.stop()


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def _encrypted(keyring: Keyring, value: Any) -> dict[str, Any]:
    """``{"payloads": [...]}`` in protobuf JSON, as Temporal hands it to the UI."""
    payloads = await engine_data_converter(keyring).encode([value])
    body: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=payloads))
    return body


def _values(body: dict[str, Any]) -> list[Any]:
    payloads = json_format.ParseDict(body, Payloads()).payloads
    return [json.loads(payload.data) for payload in payloads]


async def test_preflight_from_the_ui_origin_allows_its_headers_and_credentials(
    http: httpx.AsyncClient,
) -> None:
    for headers in ("content-type,x-namespace", "authorization,content-type,x-namespace"):
        answer = await http.options(
            "/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": headers,
            },
        )
        assert answer.status_code == 204, answer.text
        assert answer.headers["access-control-allow-origin"] == UI
        assert answer.headers["access-control-allow-credentials"] == "true"
        allowed = answer.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type", "x-namespace"} <= {
            h.strip() for h in allowed.split(",")
        }
        assert "POST" in answer.headers["access-control-allow-methods"]


async def test_the_ui_decodes_without_a_token_on_loopback(
    http: httpx.AsyncClient, keyring: Keyring
) -> None:
    body = await _encrypted(keyring, {"recipient_msisdn": NUMBER})
    assert NUMBER not in json.dumps(body)

    for origin in (UI, UI_BY_ADDRESS):
        answer = await http.post("/decode", json=body, headers={**UI_HEADERS, "Origin": origin})
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == origin
        assert answer.headers["access-control-allow-credentials"] == "true"
        assert _values(answer.json()) == [{"recipient_msisdn": NUMBER}]


async def test_the_cli_needs_the_bearer_token(http: httpx.AsyncClient, keyring: Keyring) -> None:
    body = await _encrypted(keyring, "hello")

    missing = await http.post("/decode", json=body, headers=UI_HEADERS)
    wrong = await http.post(
        "/decode", json=body, headers={**UI_HEADERS, "Authorization": "Bearer nope"}
    )
    right = await http.post(
        "/decode", json=body, headers={**UI_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    )

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "access-control-allow-origin" not in missing.headers
    assert right.status_code == 200 and _values(right.json()) == ["hello"]


async def test_a_foreign_origin_is_refused_without_cors_headers(
    http: httpx.AsyncClient, keyring: Keyring
) -> None:
    preflight = await http.options(
        "/decode",
        headers={
            "Origin": FOREIGN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    # Even with the token: a page of another site must not read decoded payloads.
    post = await http.post(
        "/decode",
        json=await _encrypted(keyring, NUMBER),
        headers={**UI_HEADERS, "Origin": FOREIGN, "Authorization": f"Bearer {TOKEN}"},
    )

    for answer in (preflight, post):
        assert answer.status_code == 403
        assert "access-control-allow-origin" not in answer.headers
        assert NUMBER not in answer.text


async def test_encode_then_decode_at_any_depth(http: httpx.AsyncClient, keyring: Keyring) -> None:
    [plain] = await pydantic_data_converter.encode([{"amount": 150000}])
    body = json_format.MessageToDict(Payloads(payloads=[plain]))
    auth = {**UI_HEADERS, "Authorization": f"Bearer {TOKEN}"}

    encoded = await http.post("/codec/default/encode", json=body, headers=auth)
    assert encoded.status_code == 200
    [sealed] = json_format.ParseDict(encoded.json(), Payloads()).payloads
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert await EncryptionCodec(keyring).decode([sealed]) == [plain]

    decoded = await http.post("/codec/default/decode", json=encoded.json(), headers=auth)
    assert _values(decoded.json()) == [{"amount": 150000}]


async def test_unencrypted_payloads_come_back_as_they_are(
    http: httpx.AsyncClient,
) -> None:
    """What the UI shows of a history recorded before encryption."""
    [plain] = await pydantic_data_converter.encode(["recorded before"])
    body = json_format.MessageToDict(Payloads(payloads=[plain]))

    answer = await http.post("/decode", json=body, headers={**UI_HEADERS, "Origin": UI})

    assert answer.status_code == 200 and answer.json() == body


async def test_refusals_name_the_problem(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    other_key = await _encrypted(Keyring.generate("retired"), "x")

    unknown = await http.post("/decode", json=other_key, headers=auth)
    garbage = await http.post("/decode", content=b"{not json", headers=auth)
    namespace = await http.post(
        "/decode", json={"payloads": []}, headers={**auth, "X-Namespace": "other"}
    )
    elsewhere = await http.post("/translate", json={"payloads": []}, headers=auth)

    assert unknown.status_code == 400 and "unknown key id 'retired'" in unknown.text
    assert garbage.status_code == 400
    assert namespace.status_code == 403 and "'other'" in namespace.text
    assert elsewhere.status_code == 404


async def test_off_loopback_the_ui_needs_the_token_too(settings: Settings) -> None:
    exposed = settings.model_copy(update={"codec_host": "0.0.0.0"})
    transport = httpx.ASGITransport(app=codec_app_from_settings(exposed))
    body = {"payloads": [json_format.MessageToDict(Payload(data=b"1"))]}

    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
        anonymous = await http.post("/decode", json=body, headers={**UI_HEADERS, "Origin": UI})
        with_token = await http.post(
            "/decode",
            json=body,
            headers={**UI_HEADERS, "Origin": UI, "Authorization": f"Bearer {TOKEN}"},
        )

    assert anonymous.status_code == 401
    assert anonymous.headers["access-control-allow-origin"] == UI  # the UI can read why
    assert with_token.status_code == 200
    with pytest.raises(CodecServerError, match="PAYMENTS_CODEC_AUTH_TOKEN"):
        codec_app_from_settings(exposed.model_copy(update={"codec_auth_token": None}))


def test_the_ui_endpoint_and_loopback() -> None:
    settings = Settings(codec_host="0.0.0.0", codec_port=8500)
    assert ui_codec_endpoint(settings) == "http://127.0.0.1:8500"
    assert ui_codec_endpoint(settings.model_copy(update={"codec_host": "::1"})) == (
        "http://[::1]:8500"
    )
    assert [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "10.1.2.3")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_payload_json_carries_base64() -> None:
    """The protocol's shape: metadata values and data are base64 strings."""
    body = json_format.MessageToDict(
        Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    )
    assert body == {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                "data": base64.b64encode(b'"x"').decode(),
            }
        ]
    }
