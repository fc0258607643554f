"""The workflow tests' Temporal: a time-skipping test server for each test.

A server per test (one starts in about 0.1 s), not per module: the server does not skip
time while a workflow has a task no worker polls for, so one workflow an earlier test
left running on its gone worker's task queue would fail every later ``env.sleep`` with
"Timeout expired" after 30 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.helpers import venv_binary


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the test's own, its client on pydantic payloads."""
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
    ) as environment:
        yield environment
