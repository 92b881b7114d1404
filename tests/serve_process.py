"""Real `qingfeng serve` processes for the fault and replica tests.

Each process reads a TOML file written here, runs on the wall clock and talks to fake
platforms in the test process over loopback. Logs go to a file (a pipe nobody reads
would fill up and stall the server).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.clock import SHANGHAI, SystemClock
from tests.test_cli import QINGFENG

FESTIVAL = "国庆"  # the festival the config moves so that its reminder is due now
HOLIDAY_TEXT = f"{FESTIVAL}廉洁提醒"
HOLIDAY_AT = time(15, 0)  # rules.HOLIDAY_AT: the reminder goes out at 15:00


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def holiday_due_now() -> dict[str, Any]:
    """A [[calendar.overrides]] entry whose holiday reminder fell due at most a day ago.

    The reminder is due at 15:00 on the last working day before the break, so the break
    starts the day after the latest 15:00 that has passed, and that day is made a working day.
    """
    now = SystemClock(SHANGHAI).now().astimezone(SHANGHAI)
    today = now.date()
    day = today if now.time() >= HOLIDAY_AT else today - timedelta(days=1)
    rest = day + timedelta(days=1)
    # Today stays a working day (so users can check in); when the break would start today,
    # the working day wins and the break is taken to start today all the same.
    return {"name": FESTIVAL, "date": rest, "rest_days": [rest], "workdays": sorted({day, today})}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, date | time):
        return v.isoformat()  # a TOML local date or time
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def toml(config: dict[str, Any]) -> str:
    """Enough TOML for a qingfeng config: keys, tables and arrays of tables."""
    lines: list[str] = []

    def table(prefix: str, body: dict[str, Any]) -> None:
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in body.items() if not _nested(v))
        for k, v in body.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                lines.append(f"[{name}]")
                table(name, v)
            elif _nested(v):
                for item in v:
                    lines.append(f"[[{name}]]")
                    table(name, item)

    table("", config)
    return "\n".join(lines) + "\n"


def _nested(v: Any) -> bool:
    """A table or an array of tables (written as its own section)."""
    return isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, dict) for x in v))


@dataclass
class Server:
    """One `qingfeng serve` process."""

    config: Path
    port: int
    log: Path
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                QINGFENG, "serve", "--config", str(self.config), env=_env(), stdout=log, stderr=log
            )
        await self._healthy()

    async def _healthy(self) -> None:
        assert self.proc is not None
        async with aiohttp.ClientSession() as http:
            for _ in range(300):  # polling for start-up (imports, migrations check), ≤ 15 s
                if self.proc.returncode is not None:
                    raise AssertionError(f"serve exited {self.proc.returncode}: {self.logs()}")
                try:
                    async with http.get(f"{self.url}/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"serve did not come up: {self.logs()}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)

    async def wait(self, within: float = 20) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), within)

    async def close(self) -> None:
        """Tear-down: whatever state the test left it in, the process is gone afterwards."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    def logs(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]


def _env() -> dict[str, str]:
    # The config file is the whole configuration: nothing from the developer's shell.
    return {k: v for k, v in os.environ.items() if not k.startswith("QINGFENG_")}


async def upgrade(config: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        QINGFENG,
        "db",
        "upgrade",
        "--config",
        str(config),
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, (out + err).decode()


def server(tmp_path: Path, name: str, config: dict[str, Any]) -> Server:
    """A server on a free port with `config` (its [server] section is filled in here)."""
    port = free_port()
    path = tmp_path / f"{name}.toml"
    full = {**config, "server": {"host": "127.0.0.1", "port": port}}
    path.write_text(toml(full), encoding="utf-8")
    return Server(path, port, tmp_path / f"{name}.log")
