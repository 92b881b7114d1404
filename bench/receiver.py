"""A loopback stand-in for a platform's webhook endpoint: answers `errcode 0` and counts."""

from __future__ import annotations

import sys
import time
from collections import Counter

from aiohttp import web


def make_app() -> web.Application:
    counts: Counter[str] = Counter()
    last = [0.0]  # wall clock of the latest post, for the burst benchmark (bench/county.py)

    async def send(request: web.Request) -> web.Response:
        await request.read()
        counts[request.query.get("key", "")] += 1
        last[0] = time.time()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def count(_: web.Request) -> web.Response:
        total = sum(counts.values())
        return web.json_response({"total": total, "keys": len(counts), "last_at": last[0]})

    async def reset(_: web.Request) -> web.Response:
        counts.clear()
        last[0] = 0.0
        return web.json_response({"ok": True})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/count", count)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{tail:.*}", send)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
