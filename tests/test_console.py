"""看板: chat-issued single-use login, sessions, scope at every request, security headers,
CSRF, and what the pages show (through aiohttp's test client on the real web app)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text, update
from sqlmodel import select

from storage.models import ConsoleSession, Member, Outbox
from tests.conftest import BUREAU, SCHOOL, at, branch_id
from tests.recording_transport import RecordingTransport

PUBLIC = "http://127.0.0.1:8080"


@pytest.fixture
async def client(app):
    async with TestClient(TestServer(app.web_app())) as c:
        yield c


async def login_path(chat, who: str, **kw) -> str:
    kw.setdefault("direct", True)
    reply = await chat.text(who, "看板", **kw)
    url = reply.splitlines()[-1]
    assert url.startswith(f"{PUBLIC}/console/login/c1.")
    return url.removeprefix(PUBLIC)


async def log_in(chat, client, who: str) -> str:
    """Logs in through a chat-issued link; the page the person lands on."""
    resp = await client.get(await login_path(chat, who), allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/"
    home = await client.get("/console/", allow_redirects=False)
    assert home.status == 303
    return home.headers["Location"]


async def page(client, path: str) -> tuple[int, str]:
    resp = await client.get(path, allow_redirects=False)
    return resp.status, await resp.text()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{32})"', html)
    assert m, "every page with a form carries the session's CSRF token"
    return m[1]


async def test_the_reply_in_chat(chat) -> None:
    direct = await chat.text("li", "看板", direct=True)
    assert direct.startswith("📊 李书记的看板链接（本支部），10 分钟内有效，只能打开一次：\n")
    group = await chat.text("zhou", "看板")
    assert "这是周管理本人的看板链接（全县），请勿转发" in group
    assert "私聊机器人发送“看板”更安全" in group
    refused = await chat.text("wang", "看板", direct=True)
    assert "console/login" not in refused and "\n" not in refused


async def test_a_secretary_logs_in_and_sees_her_branch(app, chat, client) -> None:
    bureau = await branch_id(app, BUREAU)
    assert await log_in(chat, client, "li") == f"/console/branch/{bureau}"
    status, html = await page(client, f"/console/branch/{bureau}")
    assert status == 200
    assert f"<h1>{BUREAU} · 本月</h1>" in html
    for name in ("李书记", "王党员", "孙预备", "钱群众"):
        assert f"<td>{name}</td>" in html
    assert "刘老师" not in html  # another branch's member


async def test_the_cookie_and_the_security_headers(chat, client) -> None:
    resp = await client.get(await login_path(chat, "zhou"), allow_redirects=False)
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("qf_console=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # public_url is http here
    for path in ("/console/county", "/console/branch/999", "/console/nothing-here"):
        got = await client.get(path, allow_redirects=False)
        headers = got.headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src" not in headers["Content-Security-Policy"]  # none at all
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"


async def test_a_secure_cookie_behind_https(tmp_path, clock, roster_file) -> None:
    from tests.conftest import Chat, make_settings, started_app

    settings = make_settings(tmp_path, server={"public_url": "https://dj.example.cn"})
    async with started_app(settings, clock, roster_file, False) as application:
        chat = Chat(application, clock)
        reply = await chat.text("zhou", "看板", direct=True)
        path = reply.splitlines()[-1].removeprefix("https://dj.example.cn")
        async with TestClient(TestServer(application.web_app())) as c:
            resp = await c.get(path, allow_redirects=False)
            assert resp.status == 303
            assert "Secure" in resp.headers["Set-Cookie"]


async def test_a_login_link_works_once(chat, client) -> None:
    path = await login_path(chat, "li")
    assert (await client.get(path, allow_redirects=False)).status == 303
    client.session.cookie_jar.clear()
    status, html = await page(client, path)
    assert status == 403 and "登录链接只能打开一次" in html
    status, _ = await page(client, "/console/")
    assert status == 401  # the second opening started no session


async def test_an_expired_or_altered_link_is_refused(chat, client, clock) -> None:
    path = await login_path(chat, "zhou")
    prefix, _, sig = path.rpartition(".")
    forged = f"{prefix}.{'B' if sig[0] == 'A' else 'A'}{sig[1:]}"
    status, html = await page(client, forged)
    assert status == 403 and "链接无效或已过期" in html
    other = re.sub(r"login/c1\.(\d+)\.", lambda m: f"login/c1.{int(m[1]) + 1}.", path)
    assert other != path  # someone else's id, with the asker's signature
    assert (await page(client, other))[0] == 403
    clock.advance(timedelta(minutes=10, seconds=1))
    assert (await page(client, path))[0] == 403
    assert (await page(client, "/console/"))[0] == 401


async def test_without_or_with_a_forged_cookie_nothing_is_shown(app, client) -> None:
    bureau = await branch_id(app, BUREAU)
    for path in ("/console/", "/console/county", f"/console/branch/{bureau}",
                 "/console/calendar", "/console/exports", "/console/export"):  # fmt: skip
        status, html = await page(client, path)
        assert status == 401 and "发送“看板”" in html and BUREAU not in html
    client.session.cookie_jar.update_cookies({"qf_console": "x" * 43})
    assert (await page(client, "/console/county"))[0] == 401


async def test_a_secretary_is_kept_to_her_branch(app, chat, client) -> None:
    await log_in(chat, client, "chen")
    bureau = await branch_id(app, BUREAU)
    status, html = await page(client, f"/console/branch/{bureau}")
    assert status == 403 and "您只能查看本支部的数据" in html and "王党员" not in html
    assert (await page(client, "/console/county"))[0] == 403
    assert (await page(client, "/console/branch/abc"))[0] == 404
    resp = await client.get("/console/export?scope=all&p=本月")
    assert resp.status == 403
    resp = await client.get("/console/export?scope=branch&p=本月")
    assert resp.status == 200 and resp.content_type.endswith("spreadsheetml.sheet")


async def test_a_demoted_secretary_loses_access_at_the_next_request(app, chat, client) -> None:
    school = await branch_id(app, SCHOOL)
    await log_in(chat, client, "chen")
    assert (await page(client, f"/console/branch/{school}"))[0] == 200
    async with app.db.write() as s:
        await s.exec(update(Member).where(Member.name == "陈书记").values(role="成员"))
    status, html = await page(client, f"/console/branch/{school}")
    assert status == 401 and "刘老师" not in html


async def test_the_admin_sees_the_county_and_any_branch(app, chat, client) -> None:
    assert await log_in(chat, client, "zhou") == "/console/county"
    status, html = await page(client, "/console/county")
    assert status == 200 and "全县概览 · 本月" in html
    assert BUREAU in html and SCHOOL in html
    assert html.count('<svg class="spark"') == 2  # a 12-month trend per branch
    school = await branch_id(app, SCHOOL)
    status, html = await page(client, f"/console/branch/{school}")
    assert status == 200 and "<td>刘老师</td>" in html
    status, html = await page(client, "/console/county?p=2026-13")
    assert status == 400 and "<h1>期间写得不对</h1>" in html


async def _failed_push(app, clock) -> int:
    async with app.db.write() as s:
        found = await s.exec(text("SELECT id FROM chat_groups WHERE chat_id = 'wr-bureau'"))
        group_id = found.one()[0]
        s.add(Outbox(key="test:failed", kind="notice", group_id=group_id,
                     payload='{"text": "测试推送", "mentions": [], "markdown": false}',
                     due_at=clock.now(), state="failed", attempts=5,
                     last_error="群机器人 webhook 返回 93000"))  # fmt: skip
    async with app.db.read() as s:
        row = (await s.exec(select(Outbox).where(Outbox.key == "test:failed"))).one()
    assert row.id is not None
    return row.id


async def test_the_admin_resends_a_failed_push_with_the_csrf_token(app, chat, client, clock):
    row_id = await _failed_push(app, clock)
    await log_in(chat, client, "zhou")
    status, html = await page(client, "/console/calendar")
    assert status == 200 and f"#{row_id}" in html and "群机器人 webhook 返回 93000" in html
    action = f"/console/outbox/{row_id}/resend?m=2026-12"
    assert f'action="{action}"' in html
    # Without the token, or with another session's, nothing changes.
    for form in ({}, {"csrf": "0" * 32}):
        resp = await client.post(action, data=form, allow_redirects=False)
        assert resp.status == 403
    async with app.db.read() as s:
        assert (await s.get(Outbox, row_id)).state == "failed"
    resp = await client.post(action, data={"csrf": csrf_of(html)}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/calendar?m=2026-12"
    async with app.db.read() as s:
        row = await s.get(Outbox, row_id)
    assert row.state == "pending" and row.last_error == ""
    # It goes out once through the worker, to the group.
    sent = RecordingTransport()
    app.transports["wecom"] = sent
    await app.reminders.worker.run_due()
    assert [(m.to, m.text) for m in sent.sent] == [("wr-bureau", "测试推送")]
    async with app.db.read() as s:
        assert (await s.get(Outbox, row_id)).state == "sent"
    resp = await client.post(action, data={"csrf": csrf_of(html)}, allow_redirects=False)
    assert resp.status == 409  # not failed any more: not sent twice


async def test_a_secretary_cannot_resend(app, chat, client, clock) -> None:
    row_id = await _failed_push(app, clock)
    await log_in(chat, client, "li")
    status, html = await page(client, "/console/calendar")
    assert status == 200 and f"#{row_id}" in html and "重发" not in html
    resp = await client.post(
        f"/console/outbox/{row_id}/resend", data={"csrf": csrf_of(html)}, allow_redirects=False
    )
    assert resp.status == 403
    async with app.db.read() as s:
        assert (await s.get(Outbox, row_id)).state == "failed"


async def test_logging_out_ends_the_session(app, chat, client) -> None:
    await log_in(chat, client, "li")
    status, html = await page(client, "/console/exports")
    assert status == 200
    resp = await client.post("/console/logout", data={"csrf": csrf_of(html)})
    assert resp.status == 200 and "已退出看板" in await resp.text()
    assert (await page(client, "/console/exports"))[0] == 401
    async with app.db.read() as s:
        (row,) = (await s.exec(select(ConsoleSession))).all()
    assert row.revoked_at is not None


async def test_sessions_last_twelve_hours(chat, client, clock) -> None:
    await log_in(chat, client, "li")
    clock.set(at("2026-12-01 20:09"))
    assert (await page(client, "/console/exports"))[0] == 200
    clock.set(at("2026-12-01 20:11"))
    assert (await page(client, "/console/exports"))[0] == 401


async def test_the_operator_revokes_sessions(app, chat, client, tmp_path) -> None:
    import asyncio

    from typer.testing import CliRunner

    from bot.cli import cli

    config = tmp_path / "q.toml"
    config.write_text(f'[database]\nurl = "{app.settings.database.url}"\n', encoding="utf-8")

    async def run(*args: str):
        runner = CliRunner()
        return await asyncio.to_thread(runner.invoke, cli, [*args, "--config", str(config)])

    await log_in(chat, client, "li")
    assert (await page(client, "/console/exports"))[0] == 200
    result = await run("console", "revoke")
    assert result.exit_code == 1 and "二选一" in result.output
    result = await run("console", "revoke", "13800000001")  # 周管理 has none
    assert result.exit_code == 0 and "周管理没有正在使用的看板会话。" in result.output
    assert (await page(client, "/console/exports"))[0] == 200
    result = await run("console", "revoke", "13800000002")
    assert result.exit_code == 0 and "已结束李书记的 1 个看板会话。" in result.output
    assert (await page(client, "/console/exports"))[0] == 401
    await log_in(chat, client, "li")
    result = await run("console", "revoke", "--all")
    assert "已结束所有人的 1 个看板会话。" in result.output
    assert (await page(client, "/console/exports"))[0] == 401
    result = await run("console", "revoke", "13800009999")
    assert result.exit_code == 1 and "\n" == result.output[-1] and result.output.count("\n") == 1


class _BrowsingStdin:
    """The demo's input: before the first line, opens the 看板 link the demo printed, as a
    browser on the same machine would (the demo's loop serves it meanwhile)."""

    def __init__(self, printed: list[str], lines: list[str]) -> None:
        self.printed = printed
        self.lines = lines
        self.pages: list[tuple[str, int, str]] = []

    def isatty(self) -> bool:
        return False

    def _open(self, url: str) -> None:
        import http.cookiejar
        import urllib.error
        import urllib.request

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        for u in (url, url):  # the second opening is refused: single use
            try:
                with opener.open(u, timeout=10) as resp:
                    self.pages.append((resp.url, resp.status, resp.read().decode()))
            except urllib.error.HTTPError as exc:
                self.pages.append((u, exc.code, exc.read().decode()))

    def readline(self) -> str:
        if not self.pages:
            banner = "\n".join(self.printed)
            self._open(re.search(r"http://127\.0\.0\.1:\d+/console/login/\S+", banner)[0])
        return self.lines.pop(0) + "\n" if self.lines else ""


async def test_the_demo_serves_the_console_and_prints_a_working_link(tmp_path) -> None:
    from datetime import datetime

    from bot.demo import run_demo

    printed: list[str] = []
    stdin = _BrowsingStdin(printed, ["/as 李卫东", "看板"])
    await run_demo(tmp_path / "demo.db", datetime(2026, 12, 14, 10, 0), stdin, printed.append)
    banner = printed[1]
    assert banner.startswith("网页看板（以管理员周建国登录，10 分钟内有效、只能打开一次）：")
    (url, status, html), (_, again, _) = stdin.pages
    assert status == 200 and url.endswith("/console/county")
    assert "全县概览 · 本月" in html and "城关镇中心学校党支部" in html
    assert again == 403
    out = "\n".join(printed)
    assert "这是李卫东本人的看板链接（本支部）" in out


async def test_the_trend_agrees_with_the_summary(app, chat, client, clock) -> None:
    """The county's 12-month sparkline and the branch chart count by 汇总's rules."""
    assert "已安排" in await chat.text("li", "安排 主题党日 2026-12-02 09:00 会议室")
    clock.set(at("2026-12-02 09:00"))
    for who in ("wang", "li"):
        assert "签到成功" in await chat.text(who, "签到")
    clock.set(at("2026-12-02 09:20"))
    assert "迟到" in await chat.text("sun", "签到")
    clock.set(at("2026-12-02 10:30"))  # sign-in closed at 10:00: the meeting counts
    summary = await chat.text("li", "汇总")
    assert "组织生活出勤 75%（3/4）" in summary  # 周管理 absent
    await log_in(chat, client, "zhou")
    _, html = await page(client, "/console/county")
    (bureau_row,) = [r for r in html.split("<tr") if f">{BUREAU}</a>" in r]
    assert "12月 75%" in bureau_row and "11月 无" in bureau_row
    _, html = await page(client, f"/console/branch/{await branch_id(app, BUREAU)}")
    assert "组织生活出勤（3/4）" in html and "75%" in html


async def test_the_county_puts_an_ended_term_first_and_exports_the_ledger(app, chat, client):
    import io
    from datetime import date

    from openpyxl import load_workbook

    from storage import terms

    school = await branch_id(app, SCHOOL)
    async with app.db.write() as s:
        await terms.record(s, school, date(2023, 11, 20), 3, "test", app.clock.now())
        await terms.record(
            s, await branch_id(app, BUREAU), date(2025, 3, 1), 3, "test", app.clock.now()
        )
    await log_in(chat, client, "zhou")
    _, html = await page(client, "/console/county")
    rows = html.split("<tr")[2:]  # after the header row
    assert f">{SCHOOL}</a>" in rows[0] and "换届已到期" in rows[0]
    assert f">{BUREAU}</a>" in rows[1] and "<td>正常</td>" in rows[1]
    _, html = await page(client, "/console/exports")
    assert "/console/export?kind=ledger&amp;scope=all&amp;p=" in html
    resp = await client.get("/console/export?kind=ledger&scope=all&p=本年")
    assert resp.status == 200
    assert "清风台账_20260101-20261231.xlsx" in resp.headers["Content-Disposition"].replace(
        "%E6%B8%85%E9%A3%8E%E5%8F%B0%E8%B4%A6", "清风台账"
    )
    load_workbook(io.BytesIO(await resp.read()))  # a real workbook


async def test_the_calendar_shows_term_reminders_of_the_viewers_scope(app, chat, client) -> None:
    """A recorded 换届 brings its pushes into the month's calendar: the secretary's
    reminder (a month before the end) on her branch's page, not on another branch's."""
    from datetime import date

    from storage import terms

    school = await branch_id(app, SCHOOL)
    async with app.db.write() as s:
        await terms.record(s, school, date(2024, 1, 20), 3, "test", at("2026-12-01 09:00"))
    await log_in(chat, client, "zhou")  # the admin sees the county's month
    status, html = await page(client, "/console/calendar?m=2026-12")
    assert status == 200
    # 2027-01-20 less a month: 2026-12-20 is a Sunday, so Friday the 18th.
    assert re.search(
        rf"12月18日 09:00</span> 换届提醒（2027-01-20 届满，提前1个月） "
        rf'<span class="muted">→ {SCHOOL}书记</span>',
        html,
    )
    await log_in(chat, client, "li")  # the bureau's secretary: her branch only
    status, html = await page(client, "/console/calendar?m=2026-12")
    assert status == 200 and "换届提醒" not in html and "主题党日预告" in html
