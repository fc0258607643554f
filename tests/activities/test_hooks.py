"""The merchant's hooks: one call with its key; a refusal is final, the rest retried."""

from __future__ import annotations

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from payments_engine.activities.hooks import call_hook


def _client(handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://merchant.test", transport=handler)


async def test_a_call_carries_its_key_and_body() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    async with _client(httpx.MockTransport(answer)) as hooks:
        await ActivityEnvironment().run(call_hook, hooks, "/v1/stock/hold", {"a": 1}, "k1", "hook")
    assert seen[0].headers["idempotency-key"] == "k1" and seen[0].content == b'{"a":1}'


@pytest.mark.parametrize(
    ("answer", "final"),
    [
        (httpx.Response(400, json={}), True),
        (httpx.Response(401, json={}), True),
        (httpx.Response(502, json={}), False),
        (None, False),
    ],
)
async def test_a_refusal_is_final_and_an_outage_is_retried(
    answer: httpx.Response | None, final: bool
) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if answer is None:
            raise httpx.ConnectError("down", request=request)
        return answer

    async with _client(httpx.MockTransport(respond)) as hooks:
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(call_hook, hooks, "/v1/alerts", {}, "k", "hook")
    assert caught.value.non_retryable is final
