"""The baseline: a bare aiohttp server answering every POST with fixed JSON."""

from __future__ import annotations

import sys

from aiohttp import web


async def fixed(_: web.Request) -> web.Response:
    return web.json_response({"msgtype": "text", "text": {"content": "ok"}})


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", fixed)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
