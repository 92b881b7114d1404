"""The load client: a separate process that replays prepared requests against a server.

Requests are prepared ahead (signed, encrypted, each with its own message id) so the client
measures the server, not its own crypto. Two modes:
  max   -- as fast as `concurrency` connections allow: requests per second
  rate  -- a fixed arrival rate: latency percentiles at that load
Prints one JSON line with the figures. With --expect, a response counts as answered only if
its body holds that text: a DingTalk callback answered `{}` gets its reply later, by webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=20)


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


class Answers:
    """Responses whose body carries the expected reply (not an empty "answered later")."""

    def __init__(self, expect: bytes) -> None:
        self.expect = expect
        self.count = 0
        self.last_at = 0.0  # wall clock, to compare with a webhook receiver's times

    def saw(self, body: bytes) -> None:
        if self.expect and self.expect in body:
            self.count += 1
            self.last_at = time.time()


async def _one(
    session: aiohttp.ClientSession, req: dict, latencies: list[float], answers: Answers
) -> int | str:
    start = time.perf_counter()
    try:
        async with session.request(
            req.get("method", "POST"),
            req["url"],
            data=req.get("body", "").encode(),
            headers=req.get("headers", {}),
        ) as resp:
            answers.saw(await resp.read())
            status: int | str = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        status = type(exc).__name__
    latencies.append(time.perf_counter() - start)
    return status


async def run_max(reqs: list[dict], concurrency: int, answers: Answers) -> dict:
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    queue = iter(reqs)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, timeout=TIMEOUT) as session:

        async def worker() -> None:
            for req in queue:
                status = await _one(session, req, latencies, answers)
                statuses[status] = statuses.get(status, 0) + 1

        started_at = time.time()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return _report(latencies, statuses, elapsed, answers, started_at)


async def run_rate(reqs: list[dict], rate: float, answers: Answers) -> dict:
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=TIMEOUT
    ) as session:

        async def fire(req: dict) -> None:
            status = await _one(session, req, latencies, answers)
            statuses[status] = statuses.get(status, 0) + 1

        started_at = time.time()
        start = time.perf_counter()
        tasks = []
        for i, req in enumerate(reqs):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(req)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return _report(latencies, statuses, elapsed, answers, started_at)


def _report(
    latencies: list[float],
    statuses: dict[int | str, int],
    elapsed: float,
    answers: Answers,
    started_at: float,
) -> dict:
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0

    return {
        "requests": len(lat),
        "seconds": elapsed,
        "rps": len(lat) / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "statuses": statuses,
        "answered": answers.count,
        "started_at": started_at,
        "last_answer_at": answers.last_at,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("requests", type=Path, help="JSON lines: method, url, headers, body")
    ap.add_argument("--mode", choices=["max", "rate"], default="max")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--expect", default="", help="text a body must hold to count as answered")
    args = ap.parse_args()
    reqs = load(args.requests)
    answers = Answers(args.expect.encode())
    if args.mode == "max":
        result = asyncio.run(run_max(reqs, args.concurrency, answers))
    else:
        result = asyncio.run(run_rate(reqs, args.rate, answers))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
