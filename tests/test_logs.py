"""Logs: one line per request with its fields, and secrets masked wherever they appear."""

from __future__ import annotations

import logging

from aiohttp.test_utils import TestClient, TestServer

from qingfeng.bot.logs import KeyValueFormatter, RedactSecrets, secret_values
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
