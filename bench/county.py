"""C1 and C2: the county's real load on SQLite in one process, beside a bare aiohttp server.

C1, a county morning: 100 signed DingTalk `签到` a second for 30 s, every one a new member's
check-in; target p99 < 200 ms with every reply a success.
C2, a burst: 500 members send `签到` at the same moment (500 connections opened at once);
target every one answered within 2 s, and exactly 500 rows. DingTalk's HTTP answer waits
1 s for the reply; a later one goes by the sessionWebhook, here a receiver on loopback that
notes when it arrives: a member is answered when the reply reaches either.

The bot runs `qingfeng serve` on the same county as P1 (bench/callbacks.py). The baseline
takes the same requests at the same rate, so a slow minute of the shared host shows on both.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
import urllib.request
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
SETTLE = 20.0  # how long to wait for late replies and rows before counting


def rows(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM checkins").fetchone()[0]
    finally:
        con.close()


def webhook_posts(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/count", timeout=5) as resp:
        return json.loads(resp.read())


def settle(db: Path, want: int, hook: str, answered: int) -> tuple[int, dict[str, Any]]:
    """Wait (up to SETTLE s) until every request is answered, in its response or by webhook,
    and its row is in: the rows and the webhook's count, once they stop changing."""
    deadline = time.monotonic() + SETTLE
    while True:
        got, posts = rows(db), webhook_posts(hook)
        if (got >= want and answered + posts["total"] >= want) or time.monotonic() > deadline:
            return got, posts
        time.sleep(0.1)


def _ok(statuses: dict[str, int], n: int) -> bool:
    return statuses == {"200": n} or statuses == {200: n}


def bench() -> dict[str, Any]:
    n = RATE * SECONDS
    expect = ("--expect", "签到成功")
    with tempfile.TemporaryDirectory(prefix="qf-county-") as tmp:
        work = Path(tmp)
        env = prepare_county(work, MEMBERS)
        port, bport, hport = free_port(), free_port(), free_port()
        bot = spawn([QINGFENG, "serve"], bot_env(env, port), work)
        base = spawn(
            [sys.executable, "-m", "bench.baseline_server", str(bport)], clean_env(), ROOT, work
        )
        hook = spawn([sys.executable, "-m", "bench.receiver", str(hport)], clean_env(), ROOT, work)
        try:
            for p in (port, bport, hport):
                wait_healthy(f"http://127.0.0.1:{p}/healthz")
            bot_url, base_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bport}"
            hook_url = f"http://127.0.0.1:{hport}"
            rate = ("--mode", "rate", "--rate", str(RATE))
            # C2 first, on a freshly started bot: members 0..499 all sign in at once. A reply
            # not ready within DingTalk's HTTP answer goes by the sessionWebhook (the
            # receiver): a member is answered when either arrives.
            burst = ("--concurrency", str(BURST))
            c2_base = load(dingtalk_requests(base_url, BURST), work, *burst)
            c2 = load(dingtalk_requests(bot_url, BURST, 0, hook_url), work, *burst, *expect)
            c2_rows, c2_posts = settle(work / "bench.db", BURST, hook_url, c2["answered"])
            last = max(c2["last_answer_at"], c2_posts["last_at"])
            c2["answered_in"] = last - c2["started_at"]
            # C1: the next 3,000 members, 100 a second.
            c1_base = load(dingtalk_requests(base_url, n, BURST), work, *rate)
            before = webhook_posts(hook_url)["total"]
            c1 = load(dingtalk_requests(bot_url, n, BURST, hook_url), work, *rate, *expect)
            c1_rows, c1_posts = settle(work / "bench.db", BURST + n, hook_url, c2["answered"])
            c1["late"] = c1_posts["total"] - before
            c1_rows -= c2_rows
        finally:
            for proc in (bot, base, hook):
                stop(proc)
    return {
        "c1": c1,
        "c1_base": c1_base,
        "c1_rows": c1_rows,
        "n": n,
        "c2": c2,
        "c2_base": c2_base,
        "c2_rows": c2_rows,
        "c2_posts": c2_posts["total"],
    }


def report(r: dict[str, Any]) -> bool:
    c1, c1b, c2, c2b = r["c1"], r["c1_base"], r["c2"], r["c2_base"]
    n = r["n"]
    # Every C1 reply in its own HTTP answer: a late one would not show in the latencies.
    c1_ok = (
        c1["p99_ms"] < C1_P99_MS
        and _ok(c1["statuses"], n)
        and c1["answered"] == n
        and r["c1_rows"] == n
    )
    c2_answered = c2["answered"] + r["c2_posts"]
    c2_ok = (
        c2["answered_in"] <= C2_SECONDS
        and _ok(c2["statuses"], BURST)
        and c2_answered == BURST
        and r["c2_rows"] == BURST
    )
    print(
        f"C1 {RATE}/s for {SECONDS} s: bot p50 {c1['p50_ms']:.1f} ms p99 {c1['p99_ms']:.1f} ms "
        f"(target < {C1_P99_MS:.0f}) · baseline p50 {c1b['p50_ms']:.1f} ms p99 "
        f"{c1b['p99_ms']:.1f} ms · answered in the response {c1['answered']}/{n} (late "
        f"{c1['late']}) · rows {r['c1_rows']}/{n} · statuses {c1['statuses']}  "
        f"{'PASS' if c1_ok else 'FAIL'}\n"
        f"C2 burst of {BURST}: last reply out {c2['answered_in']:.2f} s after the burst (target "
        f"≤ {C2_SECONDS:.0f}; {c2['answered']} in the response, {r['c2_posts']} by webhook; "
        f"last HTTP answer {c2['seconds']:.2f} s) · baseline {c2b['seconds']:.2f} s · rows "
        f"{r['c2_rows']}/{BURST} · statuses {c2['statuses']}  {'PASS' if c2_ok else 'FAIL'}"
    )
    return c1_ok and c2_ok


def main() -> bool:
    return report(bench())


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
