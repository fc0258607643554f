"""Helpers of the provider APIs: error answers, API-key checks, faults and held answers."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from payments_engine.sandbox.common.faults import Faults

HOLD_POLL_SECONDS = 0.05


class ApiError(Exception):
    """An error answer of a provider, rendered as ``{"code", "message"}``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Keep the HTTP status, the provider's code and message, and extra headers."""
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers

    def response(self) -> JSONResponse:
        """The JSON answer."""
        return JSONResponse(
            {"code": self.code, "message": self.message},
            status_code=self.status_code,
            headers=self.headers,
        )


def describe_errors(errors: Iterable[Mapping[str, Any]], skip: int = 1) -> str:
    """Validation errors as ``where: what``, without the input (it may be personal data).

    Args:
        errors: pydantic's or FastAPI's error dicts.
        skip: leading location items to drop (FastAPI's ``body``, ``path`` ...).
    """
    parts = []
    for error in errors:
        where = ".".join(str(item) for item in tuple(error.get("loc", ()))[skip:])
        what = str(error.get("msg"))
        parts.append(f"{where}: {what}" if where else what)
    return "; ".join(parts) or "invalid request"


def error_route_class(
    on_invalid: Callable[[RequestValidationError], ApiError],
) -> type[APIRoute]:
    """A route class rendering :class:`ApiError` and validation errors in the provider's shape.

    Args:
        on_invalid: turns FastAPI's validation error into the provider's error.
    """

    class ProviderRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def provider_handler(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return on_invalid(exc).response()
                except ApiError as exc:
                    return exc.response()

            return provider_handler

    return ProviderRoute


def key_matches(given: str | None, expected: str) -> bool:
    """True if the API key ``given`` is ``expected``, compared in constant time."""
    return hmac.compare_digest((given or "").encode("utf-8"), expected.encode("utf-8"))


async def fail_before_call(faults: Faults, roll: Callable[[float], bool]) -> bool:
    """Apply the latency fault, then roll the error rate: True if the call must fail (503)."""
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    return roll(faults.error_rate)


async def hold_for(request: Request, seconds: float) -> None:
    """Sleep ``seconds`` before answering, but stop once the client has hung up.

    The transfer is already executed; holding an answer nobody waits for would only
    delay the server's graceful shutdown.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    await hold_while(request, lambda: loop.time() < deadline)


async def hold_while(request: Request, held: Callable[[], bool]) -> None:
    """Hold the answer while ``held()`` is true, unless the client has hung up."""
    while held():
        if await request.is_disconnected():
            return
        await asyncio.sleep(HOLD_POLL_SECONDS)
