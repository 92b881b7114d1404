"""Logs: one line per request with its fields, and secrets masked wherever they appear."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot.logs import KeyValueFormatter, RedactSecrets, secret_values
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
