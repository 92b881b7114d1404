"""P4: a holiday reminder to 500 WeCom groups through the outbox, vs a bare aiohttp client loop
posting the same number of webhook messages to the same loopback receiver (a separate process)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import aiohttp

from bench.common import ROOT, clean_env, free_port, paired_ratio, spawn, stop, wait_healthy
from bot.app import App, freeze_startup_heap
from bot.clock import SHANGHAI, FakeClock
from bot.config import load_settings
from bot.logs import setup_logging
from storage.migrate import upgrade

GROUPS = 500
CONCURRENCY = 50  # the outbox worker's own limit of sends in flight
TARGET = 0.3
ROUNDS = 5  # a round is a fraction of a second; each side's median round counts


def counted(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/count") as r:
        return json.loads(r.read())


def reset(base: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{base}/reset", method="POST")).read()


async def baseline(base: str) -> float:
    body = {"msgtype": "text", "text": {"content": "元旦廉洁提醒" * 20}}
    sem = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            async with sem, session.post(f"{base}/webhook?key=g{i}", json=body) as r:
                assert (await r.json())["errcode"] == 0

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(GROUPS)))
        return time.perf_counter() - start


async def outbox_run(base: str, work: Path) -> float:
    groups = [
        {
            "name": f"群{i}",
            "branch": f"第{i % 50}支部",
            "platform": "wecom",
            "chat_id": f"wr{i}",
            "webhook": f"{base}/cgi-bin/webhook/send?key=g{i}",
        }
        for i in range(GROUPS)
    ]
    db_file = work / f"p4-{time.monotonic_ns()}.db"
    settings = load_settings(
        None,
        env={},
        database={"url": f"sqlite+aiosqlite:///{db_file}"},
        wecom={"api_base": base},
        groups=groups,
    )
    # Logged as `qingfeng serve` logs (a line per push), to a file nobody reads here.
    setup_logging(settings)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream((work / "p4.log").open("a", encoding="utf-8"))
    clock = FakeClock(datetime(2026, 12, 31, 14, 0, tzinfo=SHANGHAI))
    app = App(settings, clock=clock)
    await upgrade(app.db)
    async with app:
        await app.reminders.tick()  # writes the 元旦 reminder for 15:00 into the outbox
        # Only the reminder's fan-out is counted: the tick also sent what was due by 14:00
        # (the branches' meeting previews, moved off 1 January to this morning).
        reset(base)
        clock.set(datetime(2026, 12, 31, 15, 0, tzinfo=SHANGHAI))
        # As `qingfeng serve` does once started. Without it a full collection walking this
        # process's start-up heap (and the rounds before) lands in some rounds: ~90 ms.
        freeze_startup_heap()
        try:
            start = time.perf_counter()
            await app.reminders.worker.run_due()
            return time.perf_counter() - start
        finally:
            gc.unfreeze()  # a bench-only step: lets the next round collect this round's app


def main() -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="qf-p4-") as tmp:
        work = Path(tmp)
        receiver = spawn(
            [sys.executable, "-m", "bench.receiver", str(port)], clean_env(), ROOT, work
        )
        try:
            wait_healthy(f"{base}/healthz")
            base_times, bot_times, deliveries = [], [], []
            # Alternate, base first and last: each bot round between two baseline rounds.
            for r in range(ROUNDS + 1):
                reset(base)
                base_times.append(asyncio.run(baseline(base)))
                if r == ROUNDS:
                    break
                reset(base)
                bot_times.append(asyncio.run(outbox_run(base, work)))
                deliveries.append(counted(base))
        finally:
            stop(receiver)
    bot_rate = GROUPS / statistics.median(bot_times)
    base_rate = GROUPS / statistics.median(base_times)
    ratio = paired_ratio([GROUPS / t for t in bot_times], [GROUPS / t for t in base_times])
    exact = all(d["total"] == d["keys"] == GROUPS for d in deliveries)
    ok = ratio >= TARGET and exact
    print(
        f"P4 outbox  bot {bot_rate:6.0f} pushes/s  baseline {base_rate:6.0f} posts/s  "
        f"ratio {ratio:.2f} (target ≥ {TARGET}; of the medians {bot_rate / base_rate:.2f})  "
        "deliveries "
        f"{[d['total'] for d in deliveries]} to {[d['keys'] for d in deliveries]} groups  "
        f"{'PASS' if ok else 'FAIL'}\n    rounds (s): bot "
        f"{' / '.join(f'{t:.3f}' for t in bot_times)}  baseline "
        f"{' / '.join(f'{t:.3f}' for t in base_times)}"
    )
    return {"bot_rate": bot_rate, "base_rate": base_rate, "ratio": ratio, "exact": float(exact)}


if __name__ == "__main__":
    main()
