"""The start-up check: each gap that will make a push fail is named, in Chinese."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from bot.app import App
from bot.cli import cli
from bot.clock import SHANGHAI
from bot.config import load_settings
from schedules import checks
from schedules.holidays import HolidayCalendar
from storage import members
from tests.conftest import SCHOOL, make_settings

WEBHOOK = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"


class Unpublished(HolidayCalendar):
    """A calendar whose official data ends with 2026."""

    def is_estimated(self, year: int) -> bool:
        return year > 2026


def _config_gaps(tmp_path: Path, platforms: set[str], today: date, **overrides) -> list[str]:
    settings = make_settings(tmp_path, **overrides)
    return checks.config_gaps(settings, platforms, today, Unpublished())


async def test_the_fixture_setup_shows_its_gaps(app: App) -> None:
    gaps = await app.startup_gaps()
    assert "群「机关群」没有配置 webhook（企业微信群机器人地址），推送会失败" in gaps
    assert "群「一中群」没有配置 webhook（企业微信群机器人地址），推送会失败" in gaps
    assert any(g.startswith(f"支部「{SCHOOL}」有 1 人没有绑定账号") for g in gaps), gaps
    assert (
        "没有配置企业微信自建应用（[wecom] corp_id 和 [wecom.app] secret），"
        "缺席名单等发给书记的私信会失败"
    ) in gaps
    assert not any("没有群" in g for g in gaps)  # both branches have one


async def test_a_branch_without_a_group(app: App) -> None:
    async with app.db.write() as s:
        await members.get_or_create_branch(s, "县实验小学党支部")
    gaps = await app.startup_gaps()
    assert (
        "支部「县实验小学党支部」没有群，它的提醒无处可发（在 [[groups]] 里给它配一个群）" in gaps
    )


def test_no_platform_at_all(tmp_path: Path) -> None:
    gaps = _config_gaps(tmp_path, set(), date(2026, 6, 1), groups=[])
    assert gaps == ["没有配置任何平台（企业微信或钉钉），所有推送都会失败"]


def test_group_on_a_platform_not_configured(tmp_path: Path) -> None:
    groups = [{"name": "钉钉群", "platform": "dingtalk", "chat_id": "cid1"}]
    gaps = _config_gaps(tmp_path, {"wecom"}, date(2026, 6, 1), groups=groups)
    assert gaps == ["群「钉钉群」属于钉钉，但没有配置钉钉，推送会失败"]


def test_dingtalk_group_without_webhook_or_chat_id(tmp_path: Path) -> None:
    groups = [{"name": "钉钉群", "platform": "dingtalk"}]
    gaps = _config_gaps(tmp_path, {"dingtalk"}, date(2026, 6, 1), groups=groups)
    assert gaps == [
        "群「钉钉群」既没有 webhook 也没有 chat_id，推送会失败"
        "（填 webhook，或在群里 @机器人 发「绑定本群」）"
    ]


def test_wecom_group_with_webhook_is_fine(tmp_path: Path) -> None:
    groups = [{"name": "机关群", "platform": "wecom", "webhook": WEBHOOK}]
    assert _config_gaps(tmp_path, {"wecom"}, date(2026, 6, 1), groups=groups) == []


def test_next_years_holidays_missing_from_december(tmp_path: Path) -> None:
    groups = [{"name": "机关群", "platform": "wecom", "webhook": WEBHOOK}]
    assert _config_gaps(tmp_path, {"wecom"}, date(2026, 11, 30), groups=groups) == []
    (gap,) = _config_gaps(tmp_path, {"wecom"}, date(2026, 12, 1), groups=groups)
    assert gap.startswith("2027 年的官方节假日安排还没有收录")
    assert "pip install -U chinesecalendar" in gap


async def test_healthz_lists_the_gaps_as_warnings_and_stays_200(app: App) -> None:
    async with TestClient(TestServer(app.web_app())) as client:
        resp = await client.get("/healthz")
        body = await resp.json()
    assert resp.status == 200 and body["status"] == "ok"
    assert "群「机关群」没有配置 webhook（企业微信群机器人地址），推送会失败" in body["warnings"]


def _write_config(tmp_path: Path, groups: str) -> Path:
    config = tmp_path / "q.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "c.db"}"\n{groups}', "utf-8"
    )
    return config


async def test_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    config = _write_config(tmp_path, "")
    r = await asyncio.to_thread(runner.invoke, cli, ["check", "--config", str(config)])
    assert r.exit_code == 1 and "找不到数据库文件" in r.output  # no stray database either
    assert not (tmp_path / "c.db").exists()
    r = await asyncio.to_thread(runner.invoke, cli, ["db", "upgrade", "-c", str(config)])
    assert r.exit_code == 0, r.output

    r = await asyncio.to_thread(runner.invoke, cli, ["check", "--config", str(config)])
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("发现 ") and lines[0].endswith(" 个问题，相关推送会失败：")
    assert "· 没有配置任何平台（企业微信或钉钉），所有推送都会失败" in lines

    _write_config(tmp_path, f'[[groups]]\nname = "机关群"\nwebhook = "{WEBHOOK}"\n')
    settings = load_settings(config, env={})
    assert settings.groups[0].platform == "wecom"
    r = await asyncio.to_thread(runner.invoke, cli, ["check", "--config", str(config)])
    today = datetime.now(SHANGHAI).date()  # the CLI's today, whatever TZ the tests run in
    if not HolidayCalendar().is_estimated(today.year + (today.month == 12)):
        assert r.exit_code == 0, r.output
        assert r.output.strip() == "检查通过：没有发现会让推送失败的问题。"
