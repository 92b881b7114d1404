"""看板 in a real browser: Playwright (PyPI) driving Debian's Chromium, on loopback.

A secretary and the admin each ask the bot for a link through the real WeCom 智能机器人
callback, open it, and click through every page at a phone's 375 × 812 and a desk's
1280 × 800; the admin resends a failed push and the fake WeCom receives it. Screenshots
go to the test's folder, or to $QINGFENG_SCREENSHOTS when set (the README's come from it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.models import Outbox
from tests.conftest import BUREAU, SCHOOL, branch_id
from tests.fakes.wecom import FakeWeCom, WeComBot, aibot_text

pytest_plugins = ["tests.fakes.wecom_fixtures"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling Google on a closed network.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORTS = {"phone": (375, 812), "desk": (1280, 800)}

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install playwright")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="没有 Chromium：请安装 Debian 的 chromium 包"
)


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            await b.close()


class Shots:
    def __init__(self, folder: Path) -> None:
        extra = os.environ.get("QINGFENG_SCREENSHOTS")
        self.folders = [folder] + ([Path(extra)] if extra else [])
        for f in self.folders:
            f.mkdir(parents=True, exist_ok=True)

    async def take(self, page: object, name: str) -> None:
        for folder in self.folders:
            path = str(folder / f"{name}.png")
            await page.screenshot(path=path, full_page=True)  # type: ignore[attr-defined]


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path)


async def chat_link(bot: WeComBot, user: str, n: int) -> str:
    """The bot's reply to 看板 in a direct chat, through the encrypted callback; the link
    pointed at this test's server."""
    reply = await bot.aibot_reply(aibot_text(f"kb-{user}-{n}", user, "看板"))
    url = reply["stream"]["content"].splitlines()[-1]
    assert url.startswith("http://127.0.0.1:8080/console/login/c1."), url
    return str(bot.http.make_url(url.removeprefix("http://127.0.0.1:8080")))


async def new_page(browser: object, viewport: str) -> object:
    width, height = VIEWPORTS[viewport]
    context = await browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": width, "height": height}, locale="zh-CN", accept_downloads=True
    )
    return await context.new_page()


def url(bot: WeComBot, path: str) -> str:
    return str(bot.http.make_url(path))


async def no_overflow(page: object) -> None:
    """Nothing wider than the screen but the tables, which scroll inside their box."""
    wide = await page.evaluate(  # type: ignore[attr-defined]
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert wide <= 0, f"the page scrolls sideways by {wide}px"


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
async def test_a_secretary_clicks_through_her_branch(bot, browser, shots, viewport) -> None:
    page = await new_page(browser, viewport)
    await page.goto(await chat_link(bot, "li", 1))
    bureau = await branch_id(bot.app, BUREAU)
    assert page.url == url(bot, f"/console/branch/{bureau}")  # the token is gone from it
    assert await page.locator("h1").inner_text() == f"{BUREAU} · 本月"
    assert await page.locator("table.members").get_by_text("王党员").count() == 1
    assert await page.locator("svg.chart").count() == 1
    await no_overflow(page)
    await shots.take(page, f"secretary-branch-{viewport}")

    await page.get_by_role("link", name="上月").click()
    assert "p=%E4%B8%8A%E6%9C%88" in page.url
    assert (await page.locator("h1").inner_text()).endswith("上月")

    await page.get_by_role("link", name="提醒日历").click()
    assert (await page.locator("h1").inner_text()).startswith("提醒日历 · 2026年12月")
    assert await page.get_by_text("主题党日").count() >= 1
    assert await page.get_by_role("button", name="重发").count() == 0  # admins only
    await no_overflow(page)
    await shots.take(page, f"secretary-calendar-{viewport}")

    await page.get_by_role("link", name="导出").click()
    assert await page.get_by_text("全县").count() == 0  # her branch only
    async with page.expect_download() as download:
        await page.get_by_role("link", name="本月").first.click()
    assert (await download.value).suggested_filename.startswith("清风汇总_20261201")

    # Another branch's page, the county, by URL: refused, with nothing of theirs on it.
    school = await branch_id(bot.app, SCHOOL)
    response = await page.goto(url(bot, f"/console/branch/{school}"))
    assert response.status == 403
    assert "您只能查看本支部的数据" in await page.content()
    assert "刘老师" not in await page.content()
    assert (await page.goto(url(bot, "/console/county"))).status == 403

    await page.goto(url(bot, "/console/exports"))
    await page.get_by_role("button", name="退出").click()
    assert "已退出看板" in await page.content()
    assert (await page.goto(url(bot, f"/console/branch/{bureau}"))).status == 401


async def _failed_push(bot: WeComBot) -> int:
    async with bot.app.db.write() as s:
        found = await s.exec(text("SELECT id FROM chat_groups WHERE chat_id = 'wr-0'"))
        group_id = found.one()[0]
        row = Outbox(
            key="console-test:failed",
            kind="notice",
            group_id=group_id,
            payload='{"text": "测试：重新发送的通知", "mentions": [], "markdown": false}',
            due_at=bot.app.clock.now(),
            state="failed",
            attempts=5,
            last_error="errcode 93000 机器人地址无效",
        )
        s.add(row)
        await s.flush()
        assert row.id is not None
        return row.id


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
async def test_the_admin_sees_the_county_and_resends_a_failed_push(
    bot, fake: FakeWeCom, browser, shots, viewport
) -> None:
    row_id = await _failed_push(bot)
    page = await new_page(browser, viewport)
    login = await chat_link(bot, "zhou", 1)
    await page.goto(login)
    assert page.url == url(bot, "/console/county")
    assert (await page.locator("h1").inner_text()) == "全县概览 · 本月"
    rows = page.locator("table.branches tbody tr")
    assert await rows.count() == 2
    assert await page.locator("svg.spark").count() == 2
    # The bureau has a failed push: it needs attention and comes first.
    assert BUREAU in await rows.nth(0).inner_text()
    assert "1 条推送失败" in await rows.nth(0).inner_text()
    await no_overflow(page)
    await shots.take(page, f"admin-county-{viewport}")

    await page.get_by_role("link", name="名称").click()
    assert "sort=name" in page.url
    await page.get_by_role("link", name=SCHOOL).click()
    assert (await page.locator("h1").inner_text()).startswith(SCHOOL)
    assert await page.locator("table.members").get_by_text("刘老师").count() == 1

    await page.get_by_role("link", name="提醒日历").click()
    failed = page.locator("tr.state-failed")
    assert await failed.count() == 1
    assert "errcode 93000 机器人地址无效" in await failed.inner_text()
    await shots.take(page, f"admin-calendar-{viewport}")
    await failed.get_by_role("button", name="重发").click()
    assert page.url == url(bot, "/console/calendar?m=2026-12")
    assert await page.locator("tr.state-failed").count() == 0
    assert "待发送" in await page.locator("table.outbox").inner_text()

    await bot.app.reminders.worker.run_due()
    pushed = [m["text"]["content"] for m in fake.pushes["key-0"]]
    assert pushed == ["测试：重新发送的通知"]
    await page.reload()
    assert "已发送" in await page.locator("table.outbox").inner_text()

    # The link was single use: opened again (a forwarded message), it starts nothing.
    other = await browser.new_context()  # type: ignore[attr-defined]
    stranger = await other.new_page()
    assert (await stranger.goto(login)).status == 403
    assert (await stranger.goto(url(bot, "/console/county"))).status == 401
    assert row_id
