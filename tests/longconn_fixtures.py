"""Fixtures of the long-connection tests; test modules load them with `pytest_plugins`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.clock import FakeClock
from tests.longconn_support import CompressedSleep, Replicas


@pytest.fixture
def sleep() -> CompressedSleep:
    return CompressedSleep()


@pytest.fixture
async def replicas(
    tmp_path: Path,
    clock: FakeClock,
    roster_file: Path,
    postgres_url: str | None,
    sleep: CompressedSleep,
) -> AsyncIterator[Replicas]:
    started = Replicas(tmp_path, clock, roster_file, postgres_url, sleep)
    yield started
    await started.close_all()
