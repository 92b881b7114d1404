"""W1: the 看板's county overview and branch page on the P3 dataset, next to P3.

    .venv/bin/python bench/w1_console.py [--db FILE] [--repeat N]

Uses (and builds if missing) the P3 file: 100 branches of 50 members, a year of check-ins,
meetings and study. Member 1 is made the county admin so a session can see the county.
Then times, alternately in the same process, through the real aiohttp app on loopback with
a signed-in session:

- GET /console/county?p=2026-11 (the month's figures of every branch, each one's 12-month
  attendance trend, failed pushes), target < 300 ms;
- GET /console/branch/1?p=2026-11 (50 members' figures, meetings with names, study tasks,
  the 12-month chart), target < 100 ms;
- the baseline: P3's hand-written SQL aggregate of the county's month (stdlib sqlite3).

Prints the median of each and their ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bench.p3_summary import NOW, baseline, build, schema_is_current
from bot.app import App
from bot.clock import FakeClock
from bot.config import load_settings
from bot.console.session import COOKIE, SESSION_TTL, new_token
from storage import console

TARGETS = {"county": 300.0, "branch": 100.0}


async def measure(path: Path, repeat: int) -> None:
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE members SET role = '管理员' WHERE id = 1")
    settings = load_settings(
        None,
        env={},
        database={"url": f"sqlite+aiosqlite:///{path}"},
        branches=[{"name": f"第{b:03d}党支部", "daily_checkin": True} for b in range(1, 101)],
    )
    clock = FakeClock(NOW)
    times: dict[str, list[float]] = {"county": [], "branch": [], "baseline": []}
    async with App(settings, clock=clock, schedule=False) as app:
        cookie, hashed = new_token()
        async with app.db.write() as s:
            await console.start(s, 1, f"bench{time.time_ns()}"[:32], hashed, NOW, NOW + SESSION_TTL)
        async with TestClient(TestServer(app.web_app())) as client:
            client.session.cookie_jar.update_cookies({COOKIE: cookie})
            paths = {"county": "/console/county?p=2026-11", "branch": "/console/branch/1?p=2026-11"}

            async def get(name: str) -> float:
                t0 = time.perf_counter()
                resp = await client.get(paths[name])
                body = await resp.text()
                elapsed = time.perf_counter() - t0
                if resp.status != 200 or "第001党支部" not in body:
                    raise SystemExit(f"{paths[name]} answered {resp.status}")
                return elapsed

            for name in paths:  # warm the caches once
                await get(name)
            baseline(con)
            for _ in range(repeat):
                for name in paths:
                    times[name].append(await get(name))
                times["baseline"].append(baseline(con)[0])
    con.close()
    base = statistics.median(times["baseline"]) * 1000
    print(f"P3 hand-written SQL aggregate (baseline): {base:7.1f} ms (median of {repeat})")
    for name, target in TARGETS.items():
        ms = statistics.median(times[name]) * 1000
        verdict = "met" if ms < target else "NOT met"
        print(
            f"/console/{name:7s} {ms:7.1f} ms  = {ms / base:.2f}x the baseline  "
            f"(target < {target:.0f} ms: {verdict})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("bench/p3.db"))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if not args.db.exists() or not schema_is_current(args.db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        build(args.db)
    asyncio.run(measure(args.db, args.repeat))


if __name__ == "__main__":
    main()
