"""Helpers shared by the benchmarks: ports, processes, memory, a county on disk."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QINGFENG = str(Path(sys.executable).parent / "qingfeng")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 30.0) -> float:
    """Seconds until GET `url` answers 200."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(url)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QINGFENG_")}
    env.update(extra)
    return env


def roster_csv(path: Path, members: int, branches: int) -> None:
    """A county roster: `members` people spread over `branches` branches."""
    lines = ["姓名,支部,身份,角色,手机,企业微信账号,钉钉账号"]
    for i in range(members):
        b = i % branches
        role = "书记" if i < branches else "成员"
        status = "群众" if i % 10 == 9 else "党员"
        lines.append(f"成员{i},第{b}支部,{status},{role},1{i:010d},wx{i},dt{i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def prepare_county(workdir: Path, members: int = 5000, branches: int = 250) -> dict[str, str]:
    """A migrated SQLite database with a county roster; returns the env that points at it."""
    env = clean_env(QINGFENG_DATABASE__URL=f"sqlite+aiosqlite:///{workdir / 'bench.db'}")
    roster = workdir / "roster.csv"
    roster_csv(roster, members, branches)
    for args in (["db", "upgrade"], ["roster", "import", str(roster), "--yes"]):
        subprocess.run([QINGFENG, *args], cwd=workdir, env=env, check=True, capture_output=True)
    return env


def spawn(
    args: list[str], env: dict[str, str], cwd: Path, logs: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a server; its output goes to a file in `logs` (default `cwd`).

    Not a pipe: an unread pipe fills up and then blocks the server's logging.
    """
    logs = logs or cwd
    log = (logs / f"server-{len(list(logs.glob('server-*.log')))}.log").open("ab")
    env = {**env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def paired_ratio(bot: list[float], base: list[float]) -> float:
    """The bot's rate against the baseline's, from rounds run base, bot, base, ..., bot, base:
    each bot round against the mean of the baseline rounds either side of it, and the median
    of those. A shared host's slow spells last a round or two; this way one lands on both
    sides of a pair, where medians taken of each side apart let it land on one side only."""
    assert len(base) == len(bot) + 1
    return statistics.median(b / ((base[i] + base[i + 1]) / 2) for i, b in enumerate(bot))


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "n/a"
