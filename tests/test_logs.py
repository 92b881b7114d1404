"""Logs: one line per request with its fields, and secrets masked wherever they appear."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot.logs import KeyValueFormatter, RedactSecrets, TurnBufferedHandler, secret_values
from tests.conftest import make_settings


def test_configured_secrets_are_masked(tmp_path):
    settings = make_settings(
        tmp_path,
        wecom={"app": {"secret": "app-secret-value"}},
        dingtalk={"app_secret": "dt-secret-value"},
    )
    f = RedactSecrets(secret_values(settings))
    record = logging.LogRecord("x", logging.INFO, "", 0, "token %s and %s", None, None)
    record.args = ("app-secret-value", "dt-secret-value")
    f.filter(record)
    assert record.getMessage() == "token *** and ***"


async def test_one_line_per_request(app, caplog):
    caplog.set_level(logging.INFO, logger="qingfeng.http")
    async with TestClient(TestServer(app.web_app())) as client:
        resp = await client.get("/nope?sig=abc")
        assert resp.status == 404
    lines = [KeyValueFormatter().format(r) for r in caplog.records if r.name == "qingfeng.http"]
    assert len(lines) == 1
    assert "request rid=" in lines[0]
    assert "method=GET path=/nope status=404" in lines[0]
    assert "sig=abc" not in lines[0]


async def test_healthz_reports_database(app):
    async with TestClient(TestServer(app.web_app())) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200
        assert (await resp.json())["database"] == "ok"


async def test_healthz_reports_the_scheduler_and_fails_when_it_stops(tmp_path, clock, roster_file):
    from bot.app import App
    from handlers.roster import import_roster
    from storage.migrate import upgrade

    application = App(make_settings(tmp_path), clock=clock, schedule=True)
    await upgrade(application.db)
    await import_roster(application.db, roster_file, clock.now())
    await application.initialize()
    await application.start()
    try:
        async with TestClient(TestServer(application.web_app())) as client:
            resp = await client.get("/healthz")
            body = await resp.json()
            assert (resp.status, body["scheduler"], body["database"]) == (200, "running", "ok")
            application.reminders.scheduler.shutdown(wait=False)  # the scheduler dies
            resp = await client.get("/healthz")
            body = await resp.json()
            assert (resp.status, body["scheduler"], body["status"]) == (503, "stopped", "degraded")
    finally:
        await application.stop()
        await application.shutdown()


async def test_healthz_503_when_the_database_is_gone(app, tmp_path):
    path = app.db.sqlite_path
    if path is None:
        return  # the PostgreSQL pass: the SQLite passes cover this
    async with TestClient(TestServer(app.web_app())) as client:
        await app.db.dispose()
        moved = tmp_path / "moved"
        moved.mkdir()
        files = [p for p in Path(path).parent.glob(Path(path).name + "*")]
        for f in files:
            f.rename(moved / f.name)
        try:
            resp = await client.get("/healthz")  # an empty file, no tables: the database is down
            body = await resp.json()
        finally:
            await app.db.dispose()
            for f in Path(path).parent.glob(Path(path).name + "*"):
                f.unlink()
            for f in moved.iterdir():
                f.rename(Path(path).parent / f.name)
        assert resp.status == 503 and body["database"] == "down"
        resp = await client.get("/healthz")  # the file is back: healthy again, no restart
        assert resp.status == 200


class Writes:
    """A stream that keeps each write separately."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


def _logger(stream: Writes) -> logging.Logger:
    handler = TurnBufferedHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"test.turns.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


async def test_lines_of_one_loop_turn_are_written_together_after_it():
    stream = Writes()
    logger = _logger(stream)
    for n in range(3):
        logger.info("push %d", n)
    assert stream.writes == []  # still in the turn that logged them
    await asyncio.sleep(0)
    assert stream.writes == ["push 0\npush 1\npush 2\n"]
    logger.info("request")
    await asyncio.sleep(0)
    assert stream.writes[1:] == ["request\n"]


def test_a_line_logged_off_the_loop_is_written_at_once():
    stream = Writes()
    _logger(stream).info("backup done")
    assert stream.writes == ["backup done\n"]


async def test_flushing_writes_the_lines_still_waiting():
    # logging.shutdown() flushes every handler when the process exits.
    stream = Writes()
    logger = _logger(stream)
    logger.info("last line")
    logger.handlers[0].flush()
    assert stream.writes == ["last line\n"]
    await asyncio.sleep(0)
    assert stream.writes == ["last line\n"]  # not written twice


class BrokenPipe(Writes):
    """stderr piped into a process that has gone away."""

    def write(self, text: str) -> None:
        self.writes.append(text)
        raise BrokenPipeError(32, "Broken pipe")


async def test_a_failed_write_is_reported_once_and_the_loop_does_not_spin(monkeypatch):
    reported: list[str] = []
    stream = BrokenPipe()
    logger = _logger(stream)
    handler = logger.handlers[0]
    monkeypatch.setattr(handler, "handleError", lambda record: reported.append(record.msg))
    logger.info("push")
    for _ in range(5):
        await asyncio.sleep(0)
    assert stream.writes == ["push\n"]  # one attempt, no flush rescheduled turn after turn
    assert reported == ["push"]
    logger.info("request")  # the next line gets its own attempt
    await asyncio.sleep(0)
    assert stream.writes == ["push\n", "request\n"]


def test_lines_left_by_a_loop_closed_before_its_flush_go_out_with_the_next_loops():
    stream = Writes()
    logger = _logger(stream)
    loop = asyncio.new_event_loop()

    def log_and_stop() -> None:
        logger.info("a")
        loop.stop()  # the flush is queued for the next turn, which never comes

    loop.call_soon(log_and_stop)
    loop.run_forever()
    loop.close()
    assert stream.writes == []

    async def later() -> None:
        logger.info("b")
        await asyncio.sleep(0)

    asyncio.run(later())
    assert stream.writes == ["a\nb\n"]
