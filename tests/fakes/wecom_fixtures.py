"""The fake WeCom and the bot wired to it, as pytest fixtures.

Test modules load them with `pytest_plugins = ["tests.fakes.wecom_fixtures"]`; a module may
set WECOM_GROUPS to configure more groups (each with its own robot webhook).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.clock import FakeClock
from tests.fakes.wecom import FakeWeCom, WeComBot, wecom_bot


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom(clock) as server:
        yield server


@pytest.fixture
async def bot(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: FakeClock,
    roster_file: Path,
    fake: FakeWeCom,
    postgres_url: str | None,
) -> AsyncIterator[WeComBot]:
    groups = getattr(request.module, "WECOM_GROUPS", 2)
    async with wecom_bot(tmp_path, clock, roster_file, fake, groups, postgres_url) as b:
        yield b
