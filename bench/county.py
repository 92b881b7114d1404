"""C1 and C2: the county's real load on SQLite in one process, beside a bare aiohttp server.

C1, a county morning: 100 signed DingTalk `签到` a second for 30 s, every one a new member's
check-in; target p99 < 200 ms with every reply a success.
C2, a burst: 500 members send `签到` at the same moment (500 connections opened at once);
target every one answered within 2 s, and exactly 500 rows.

The bot runs `qingfeng serve` on the same county as P1 (bench/callbacks.py). The baseline
takes the same requests at the same rate, so a slow minute of the shared host shows on both.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.callbacks import MEMBERS, bot_env, dingtalk_requests, load
from bench.common import (
    QINGFENG,
    ROOT,
    clean_env,
    free_port,
    prepare_county,
    spawn,
    stop,
    wait_healthy,
)

RATE = 100
SECONDS = 30
BURST = 500
C1_P99_MS = 200.0
C2_SECONDS = 2.0


def rows(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM checkins").fetchone()[0]
    finally:
        con.close()


def _ok(statuses: dict[str, int], n: int) -> bool:
    return statuses == {"200": n} or statuses == {200: n}


def bench() -> dict[str, Any]:
    n = RATE * SECONDS
    with tempfile.TemporaryDirectory(prefix="qf-county-") as tmp:
        work = Path(tmp)
        env = prepare_county(work, MEMBERS)
        port, bport = free_port(), free_port()
        bot = spawn([QINGFENG, "serve"], bot_env(env, port), work)
        base = spawn(
            [sys.executable, "-m", "bench.baseline_server", str(bport)], clean_env(), ROOT, work
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz")
            wait_healthy(f"http://127.0.0.1:{bport}/healthz")
            bot_url, base_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bport}"
            rate = ("--mode", "rate", "--rate", str(RATE))
            # C2 first, on a freshly started bot: members 0..499 all sign in at once.
            burst = ("--concurrency", str(BURST))
            c2_base = load(dingtalk_requests(base_url, BURST), work, *burst)
            c2 = load(dingtalk_requests(bot_url, BURST), work, *burst)
            c2_rows = rows(work / "bench.db")
            # C1: the next 3,000 members, 100 a second.
            c1_base = load(dingtalk_requests(base_url, n, BURST), work, *rate)
            c1 = load(dingtalk_requests(bot_url, n, BURST), work, *rate)
            c1_rows = rows(work / "bench.db") - c2_rows
        finally:
            stop(bot)
            stop(base)
    return {"c1": c1, "c1_base": c1_base, "c1_rows": c1_rows, "n": n,
            "c2": c2, "c2_base": c2_base, "c2_rows": c2_rows}


def report(r: dict[str, Any]) -> bool:
    c1, c1b, c2, c2b = r["c1"], r["c1_base"], r["c2"], r["c2_base"]
    c1_ok = c1["p99_ms"] < C1_P99_MS and _ok(c1["statuses"], r["n"]) and r["c1_rows"] == r["n"]
    c2_ok = (
        c2["seconds"] <= C2_SECONDS and _ok(c2["statuses"], BURST) and r["c2_rows"] == BURST
    )
    print(
        f"C1 {RATE}/s for {SECONDS} s: bot p50 {c1['p50_ms']:.1f} ms p99 {c1['p99_ms']:.1f} ms "
        f"(target < {C1_P99_MS:.0f}) · baseline p50 {c1b['p50_ms']:.1f} ms p99 "
        f"{c1b['p99_ms']:.1f} ms · rows {r['c1_rows']}/{r['n']} · statuses {c1['statuses']}  "
        f"{'PASS' if c1_ok else 'FAIL'}\n"
        f"C2 burst of {BURST}: bot all answered in {c2['seconds']:.2f} s (target ≤ "
        f"{C2_SECONDS:.0f}; p99 {c2['p99_ms']:.0f} ms) · baseline {c2b['seconds']:.2f} s · "
        f"rows {r['c2_rows']}/{BURST} · statuses {c2['statuses']}  {'PASS' if c2_ok else 'FAIL'}"
    )
    return c1_ok and c2_ok


def main() -> bool:
    return report(bench())


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
