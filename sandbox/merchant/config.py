"""Configuration of the merchant-hooks recorder."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class MerchantSandboxConfig(BaseModel):
    """How the merchant recorder behaves.

    Attributes:
        api_key: the bearer token every ``/merchant`` call must carry; None (the
            default) checks none, as many merchants' hooks do.
        state_file: SQLite file keeping what it recorded across restarts; None keeps it
            in memory only. It may be the other simulators' file: each keeps to its
            own documents.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    api_key: str | None = Field(default=None, min_length=1, repr=False)
    state_file: Path | None = None
