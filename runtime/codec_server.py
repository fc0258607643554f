"""The codec server: the Temporal Web UI and CLI decode the engine's payloads through it.

It speaks Temporal's remote codec protocol: ``POST .../encode`` and ``POST .../decode``
(only the last part of the path counts) with a body ``{"payloads": [{"metadata": {k:
base64}, "data": base64}]}`` (``Payloads`` in protobuf JSON) answered in the same shape.
``payments dev`` runs it on ``PAYMENTS_CODEC_HOST``:``PAYMENTS_CODEC_PORT`` (default
127.0.0.1:8500) and starts its Web UI with ``--ui-codec-endpoint`` pointing at it; the
CLI uses it with ``temporal workflow show --codec-endpoint URL --codec-auth "Bearer
TOKEN"``.

Who may call it:

- A request carrying ``Authorization: Bearer <PAYMENTS_CODEC_AUTH_TOKEN>`` (the CLI, a
  script, a UI behind an authenticating proxy).
- The Web UI of the dev server, without a token, only when the server listens on a
  loopback address: the UI cannot send one to a plain-HTTP endpoint (it sends
  ``Authorization`` only as its own OAuth access token, and only to an https endpoint;
  the dev server's UI has no login). Such a request must come from the UI's origin
  (``http://localhost:<ui port>`` or ``http://127.0.0.1:<ui port>``). A browser page of
  any other site cannot pass that check; a program on this machine can (it can set
  ``Origin``), which is the trust the dev server's UI itself gives every local user.
- Anything else: 401; a request from a browser page of another origin: 403 without CORS
  headers, so the browser does not hand the page the answer either.

``X-Namespace`` (sent by the UI and the CLI) must name a namespace the server serves.
Nothing of a payload is logged.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import SecretStr
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from payments_engine.runtime.codec import CodecError, EncryptionCodec, settings_keyring
from payments_engine.runtime.serving import RunningServer, start_server
from payments_engine.runtime.settings import Settings

ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Namespace")
ALLOWED_METHODS = ("POST", "OPTIONS")
MAX_BODY_BYTES = 16 * 1024 * 1024
PREFLIGHT_MAX_AGE = "600"


class CodecServerError(RuntimeError):
    """The codec server cannot start with these settings."""


def ui_origins(settings: Settings) -> list[str]:
    """The origins of the dev server's Web UI (both spellings of loopback)."""
    return [
        f"http://localhost:{settings.temporal_ui_port}",
        f"http://127.0.0.1:{settings.temporal_ui_port}",
    ]


def ui_codec_endpoint(settings: Settings) -> str:
    """The codec server's URL as the browser reaches it (``--ui-codec-endpoint``).

    A server listening on every interface is reached on 127.0.0.1.
    """
    host = settings.codec_host
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.codec_port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or ``localhost``) is on the loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_codec_app(
    codec: PayloadCodec,
    *,
    auth_token: SecretStr | None,
    origins: Sequence[str],
    ui_without_token: bool = False,
    namespaces: Collection[str] | None = None,
) -> FastAPI:
    """The codec server's ASGI app.

    Args:
        codec: encodes and decodes (the engine's :class:`EncryptionCodec`).
        auth_token: the bearer token that authorises a request; None: no token works.
        origins: browser origins allowed to call it (CORS, with credentials).
        ui_without_token: let requests from ``origins`` in without a token. Only for a
            server bound to loopback (see the module docstring); the caller checks that.
        namespaces: the namespaces served; a request whose ``X-Namespace`` names
            another is refused. None: any.
    """
    app = FastAPI(
        title="payments engine codec server", docs_url=None, redoc_url=None, openapi_url=None
    )
    allowed_origins = frozenset(origins)
    allowed_headers = frozenset(header.lower() for header in ALLOWED_HEADERS)
    expected = auth_token.get_secret_value() if auth_token is not None else None

    def cors_headers(origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    def authorised(request: Request, origin: str | None) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if expected is not None and scheme.lower() == "bearer" and token:
            if secrets.compare_digest(token.strip().encode(), expected.encode()):
                return True
        return ui_without_token and origin is not None

    @app.middleware("http")
    async def gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin not in allowed_origins:
            return JSONResponse({"detail": "origin not allowed"}, status_code=403)
        if request.method == "OPTIONS":
            return _preflight(request, origin, allowed_headers, cors_headers)
        extra = cors_headers(origin) if origin is not None else {}
        if not authorised(request, origin):
            return JSONResponse(
                {"detail": "missing or wrong bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer", **extra},
            )
        namespace = request.headers.get("x-namespace")
        if namespaces is not None and namespace is not None and namespace not in namespaces:
            return JSONResponse(
                {"detail": f"namespace {namespace!r} is not served here"},
                status_code=403,
                headers=extra,
            )
        response = await call_next(request)
        response.headers.update(extra)
        return response

    @app.post("/{path:path}")
    async def convert(path: str, request: Request) -> Response:
        operation = path.rstrip("/").rpartition("/")[2]
        if operation not in ("encode", "decode"):
            return JSONResponse({"detail": "POST .../encode or .../decode"}, status_code=404)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"detail": "body too large"}, status_code=413)
        try:
            payloads = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, DecodeError, UnicodeDecodeError):
            return JSONResponse({"detail": "body is not Payloads JSON"}, status_code=400)
        try:
            if operation == "encode":
                converted = await codec.encode(payloads.payloads)
            else:
                converted = await codec.decode(payloads.payloads)
        except CodecError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return Response(
            json_format.MessageToJson(Payloads(payloads=converted), indent=None),
            media_type="application/json",
        )

    return app


def _preflight(
    request: Request,
    origin: str | None,
    allowed_headers: frozenset[str],
    cors_headers: Callable[[str], dict[str, str]],
) -> Response:
    """Answer a CORS preflight from an allowed origin (the origin was checked already)."""
    method = request.headers.get("access-control-request-method")
    if origin is None or method is None:
        return JSONResponse({"detail": "not a CORS preflight"}, status_code=400)
    requested = {
        header.strip().lower()
        for header in request.headers.get("access-control-request-headers", "").split(",")
        if header.strip()
    }
    if method.upper() not in ALLOWED_METHODS or not requested <= allowed_headers:
        return JSONResponse({"detail": "method or headers not allowed"}, status_code=403)
    return Response(
        status_code=204,
        headers={
            **cors_headers(origin),
            "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
            "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        },
    )


def codec_app_from_settings(settings: Settings) -> FastAPI:
    """The codec server of ``settings``: its keys, token, the Web UI's origins, namespace.

    The UI may call it without a token only when ``PAYMENTS_CODEC_HOST`` is loopback.

    Raises:
        CodecServerError: no codec keys, or no token and not bound to loopback.
    """
    keyring = settings_keyring(settings)
    if keyring is None:
        raise CodecServerError("the codec server needs PAYMENTS_CODEC_KEYS (or the dev key)")
    loopback = is_loopback(settings.codec_host)
    if settings.codec_auth_token is None and not loopback:
        raise CodecServerError(
            f"PAYMENTS_CODEC_AUTH_TOKEN must be set to serve on {settings.codec_host}"
        )
    return create_codec_app(
        EncryptionCodec(keyring),
        auth_token=settings.codec_auth_token,
        origins=ui_origins(settings),
        ui_without_token=loopback,
        namespaces={settings.temporal_namespace},
    )


async def start_codec_server(settings: Settings) -> RunningServer:
    """Serve :func:`codec_app_from_settings` on ``PAYMENTS_CODEC_HOST``:``PAYMENTS_CODEC_PORT``.

    Raises:
        CodecServerError: see :func:`codec_app_from_settings`.
        RuntimeError: the server did not start (port taken).
    """
    app = codec_app_from_settings(settings)
    return await start_server(app, settings.codec_host, settings.codec_port)
