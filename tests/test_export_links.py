"""GET /exports/{token}: signed, expiring, scoped to the asker's branch."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook

from bot.app import App
from bot.export_tokens import BadToken, ExportGrant, make_token, read_token
from handlers.periods import parse_period
from storage.migrate import upgrade
from tests.conftest import BUREAU, SCHOOL, make_settings


async def link_path(talk, who: str, text: str = "导出", **kw) -> str:
    reply = await talk.text(who, text, **kw)
    url = reply.splitlines()[-1]
    assert url.startswith("http://127.0.0.1:8080/exports/")
    return url.removeprefix("http://127.0.0.1:8080")


@pytest.fixture
async def client(app):
    async with TestClient(TestServer(app.web_app())) as c:
        yield c


async def sheet_branches(resp) -> set[str]:
    wb = load_workbook(io.BytesIO(await resp.read()))
    names = {r[0] for r in wb["汇总"].iter_rows(min_row=2, values_only=True) if r[1]}
    names |= {r[0] for r in wb["日常签到"].iter_rows(min_row=2, values_only=True)}
    return names


async def test_secretary_link_shows_only_their_branch(chat, client):
    resp = await client.get(await link_path(chat, "chen", chat="wr-school"))
    assert resp.status == 200
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    assert await sheet_branches(resp) == {SCHOOL}


async def test_admin_link_covers_every_branch(chat, client):
    resp = await client.get(await link_path(chat, "zhou", direct=True))
    assert resp.status == 200
    assert await sheet_branches(resp) == {BUREAU, SCHOOL}


async def test_widening_the_scope_of_a_secretarys_link_is_refused(chat, client):
    path = await link_path(chat, "chen", chat="wr-school")
    _, _, token = path.rpartition("/")
    version, scope, first, last, exp, sig = token.split(".")
    # A different signature for sure (replacing its end with "AA" matched it 1 run in 4,096).
    other_sig = ("B" if sig[0] == "A" else "A") + sig[1:]
    for forged in (
        f"{version}.all.{first}.{last}.{exp}.{sig}",
        f"{version}.1.{first}.{last}.{exp}.{sig}",
        f"{version}.{scope}.20200101.{last}.{exp}.{sig}",
        f"{version}.{scope}.{first}.{last}.{int(exp) + 86400}.{sig}",
        f"{version}.{scope}.{first}.{last}.{exp}.{other_sig}",
        "garbage",
    ):
        resp = await client.get(f"/exports/{forged}")
        assert resp.status == 403
        assert "链接无效或已过期" in await resp.text()


async def test_link_expires_after_the_configured_hours(chat, client, clock):
    path = await link_path(chat, "li", "导出 本月")
    assert "12月2日(周三) 08:10 前有效" in await chat.text("li", "导出 本月")
    clock.advance(timedelta(hours=23, minutes=59))
    assert (await client.get(path)).status == 200
    clock.advance(timedelta(minutes=1))
    assert (await client.get(path)).status == 403


async def test_configured_secret_signs_links_and_ttl_is_honoured(tmp_path, clock, roster_file):
    from handlers.roster import import_roster
    from tests.conftest import Chat

    settings = make_settings(
        tmp_path, server={"export_secret": "s3cret-for-tests", "export_ttl_hours": 2}
    )
    app = App(settings, clock=clock)
    await upgrade(app.db)
    await import_roster(app.db, roster_file, clock.now())
    await app.initialize()
    try:
        chat = Chat(app, clock)
        path = await link_path(chat, "li")
        token = path.rpartition("/")[2]
        grant = read_token(b"s3cret-for-tests", token, clock.now())
        assert grant.expires - clock.now() == timedelta(hours=2)
        with pytest.raises(BadToken):
            read_token(b"another-secret", token, clock.now())
    finally:
        await app.shutdown()


async def test_generated_secret_is_stable_across_restarts(app, chat, client, clock):
    path = await link_path(chat, "li")
    # A second app on the same database (a restart, or another replica) accepts the link.
    other = App(app.settings, clock=clock)
    await other.initialize()
    try:
        async with TestClient(TestServer(other.web_app())) as c2:
            assert (await c2.get(path)).status == 200
    finally:
        await other.shutdown()


def test_token_round_trip(clock):
    period = parse_period("2026-11", clock.now().date())
    grant = ExportGrant(7, period, clock.now() + timedelta(hours=1))
    back = read_token(b"k", make_token(b"k", grant), clock.now())
    assert (back.branch_id, back.period.first, back.period.last) == (7, period.first, period.last)


async def test_a_link_before_any_was_issued_is_refused(client):
    forged = "1.all.20261101.20261130.9999999999." + "A" * 43
    resp = await client.get(f"/exports/{forged}")
    assert resp.status == 403


async def test_a_group_link_leaves_out_the_secretarys_notes_and_grades(chat, client):
    """A link posted in a group can be opened by every member: 谈心要点 and 评议等次 only
    in the workbook asked for in a direct chat."""
    await chat.text("li", "谈心 王党员 家里有困难")
    await chat.text("li", "评议 王党员 优秀", direct=True)
    group_reply = await chat.text("li", "导出")
    assert "谈心要点、评议等次只在私聊发送“导出”得到的文件里" in group_reply
    for path, private in (
        (await link_path(chat, "li"), False),
        (await link_path(chat, "li", direct=True), True),
    ):
        resp = await client.get(path)
        assert resp.status == 200
        wb = load_workbook(io.BytesIO(await resp.read()))
        cells = {str(c) for ws in wb for row in ws.iter_rows(values_only=True) for c in row}
        assert ("家里有困难" in cells) is private
        assert ("优秀" in cells) is private
        assert "王党员" in {r[3] for r in wb["谈心谈话"].iter_rows(min_row=2, values_only=True)}
