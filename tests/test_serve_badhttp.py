"""Slow, broken and malformed HTTP against a real `qingfeng serve`, over raw sockets.

Every request is answered (or its connection closed) in bounded time and leaves exactly one
log line: never a traceback, never status=500, never the raw bytes it was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.fakes import dingtalk as dt
from tests.fakes import wecom as wc
from tests.fakes.waiting import eventually
from tests.serve_process import Server, free_port, toml, upgrade

BODY_TIMEOUT = 0.5  # server.body_timeout_seconds for these servers (production: 5)
SLACK = 1.5  # loopback and a loaded test machine, on top of BODY_TIMEOUT
SETTLE = 0.3  # after a request's line appears, time for any second line to follow it
NOWHERE = "http://127.0.0.1:9"  # the platforms' APIs: nothing here calls out

ROBOT = "/dingtalk/robot"
APP = "/wecom/app?msg_signature=s&timestamp=1&nonce=1"  # past the query check, to the body


# One server for the module (starting one takes seconds); each test reads only the log lines
# its own requests added.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def srv(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    tmp_path = tmp_path_factory.mktemp("serve")
    port = free_port()
    config = {
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'qingfeng.db'}"},
        "server": {"host": "127.0.0.1", "port": port, "body_timeout_seconds": BODY_TIMEOUT},
        "wecom": {
            "corp_id": wc.CORP_ID,
            "api_base": NOWHERE,
            "app": {
                "agent_id": wc.AGENT_ID,
                "secret": wc.APP_SECRET,
                "token": wc.APP_TOKEN,
                "encoding_aes_key": wc.APP_KEY,
            },
        },
        "dingtalk": {
            "app_key": dt.APP_KEY,
            "app_secret": dt.APP_SECRET,
            "robot_code": dt.ROBOT_CODE,
            "api_base": NOWHERE,
        },
    }
    path = tmp_path / "serve.toml"
    path.write_text(toml(config), encoding="utf-8")
    server = Server(path, port, tmp_path / "serve.log")
    await upgrade(path)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "status=500" not in log, log


def head(target: str, *headers: str) -> bytes:
    """A POST's request line and headers; DingTalk's signed (the signature is checked before
    the body is read), WeCom's query is in `target`."""
    lines = [f"POST {target} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if target == ROBOT:
        now_ms = int(time.time() * 1000)
        lines += [f"{k}: {v}" for k, v in dt.callback_headers(now_ms).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Peer:
    """One raw connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, server: Server) -> Peer:
        return cls(*await asyncio.open_connection("127.0.0.1", server.port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def status(self, within: float) -> int | None:
        """The status of the answer, None when the server closed without one."""
        data = await asyncio.wait_for(self.reader.read(65536), within)
        return int(data.split(b" ", 2)[1]) if data else None

    def close(self) -> None:
        self.writer.close()


class LogTail:
    """The lines the server logs from now on."""

    def __init__(self, server: Server) -> None:
        self._path = server.log
        self._start = server.log.stat().st_size

    def _new(self) -> str:
        with self._path.open("rb") as f:
            f.seek(self._start)
            return f.read().decode("utf-8", "replace")

    async def lines(self, expected: str) -> list[str]:
        """The new lines, once one holds `expected` and any that follow it had time to."""
        await eventually(lambda: expected in self._new(), f"a log line with {expected!r}")
        await asyncio.sleep(SETTLE)
        return self._new().splitlines()


@pytest.mark.parametrize("target", [ROBOT, APP])
async def test_a_chunked_body_stalled_by_a_bare_lf_is_answered_408_in_time(
    srv: Server, target: str
) -> None:
    tail = LogTail(srv)
    peer = await Peer.open(srv)
    try:
        await peer.send(head(target, "Transfer-Encoding: chunked"))
        await asyncio.sleep(0.1)  # the handler is reading the body when the bad line arrives
        started = time.monotonic()
        # A chunk-size line ending in a bare LF: the parser stops there, the body never ends.
        await peer.send(b"5\n")
        status = await peer.status(within=BODY_TIMEOUT + SLACK)
        assert time.monotonic() - started < BODY_TIMEOUT + SLACK
    finally:
        peer.close()
    assert status == 408
    lines = await tail.lines("status=408")
    assert len(lines) == 1, lines
    assert "request rid=" in lines[0] and "status=408" in lines[0]


async def test_a_body_shorter_than_its_content_length_is_answered_408_in_time(
    srv: Server,
) -> None:
    tail = LogTail(srv)
    peer = await Peer.open(srv)
    try:
        await peer.send(head(ROBOT, "Content-Length: 200"))
        await peer.send(b'{"msgtype": "te')  # and then nothing
        status = await peer.status(within=BODY_TIMEOUT + SLACK)
    finally:
        peer.close()
    assert status == 408
    lines = await tail.lines("status=408")
    assert len(lines) == 1, lines


@pytest.mark.parametrize("target", [ROBOT, APP])
async def test_a_client_gone_mid_body_is_one_line_and_no_500(srv: Server, target: str) -> None:
    tail = LogTail(srv)
    peer = await Peer.open(srv)
    await peer.send(head(target, "Content-Length: 200"))
    await peer.send(b'{"msgtype": "te')
    await asyncio.sleep(0.1)  # the handler is waiting for the rest
    peer.close()
    lines = await tail.lines("status=499")  # nginx's "client closed request"
    assert len(lines) == 1, lines
    assert "request rid=" in lines[0]


async def test_a_body_that_cannot_be_decoded_is_400_and_one_line(srv: Server) -> None:
    tail = LogTail(srv)
    peer = await Peer.open(srv)
    try:
        await peer.send(head(ROBOT, "Content-Encoding: deflate", "Content-Length: 5") + b"hello")
        status = await peer.status(within=SLACK)
    finally:
        peer.close()
    assert status == 400
    lines = await tail.lines("status=400")
    assert len(lines) == 1, lines
    assert "request rid=" in lines[0]


MALFORMED = {
    "control byte in a header": b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Probe: a\x01b\r\n\r\n",
    "unknown method": b"BREW /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
    "over-long request line": b"GET /" + b"z" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
}


async def test_malformed_requests_get_400_and_one_line_each(srv: Server) -> None:
    for what, raw in MALFORMED.items():
        tail = LogTail(srv)
        peer = await Peer.open(srv)
        try:
            await peer.send(raw)
            status = await peer.status(within=SLACK)
        finally:
            peer.close()
        assert status == 400, what
        lines = await tail.lines("malformed request")
        assert len(lines) == 1, (what, lines)
        line = lines[0]
        assert " WARNING aiohttp.server malformed request from 127.0.0.1: " in line, (what, line)
        assert line.endswith(" status=400"), (what, line)
        assert "Error handling request" not in line and "Traceback" not in line, (what, line)
        # The line names the error, never quotes what was sent.
        assert "\x01" not in line and "zzzz" not in line and "BREW" not in line, (what, line)
