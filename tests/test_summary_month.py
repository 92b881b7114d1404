"""汇总 / 未学习 / 导出 / the CLI after a scripted month, against hand counts."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook
from typer.testing import CliRunner

from bot.cli import cli
from schedules.monthly import monthly_summary
from tests.conftest import BUREAU, SCHOOL, branch_id
from tests.summary_month import script_november

# Hand counts for 县教育局机关党支部, November 2026 (see tests/summary_month.py):
# check-ins due 5 x 42 = 210, done 42 + 21 + 10 + 0 + 42 = 115;
# events: 4 expected x 2 = 8, 出席 2 (王), 迟到 1 (孙), 请假 1 (李), 缺席 4;
# study: both tasks are due in November and meant for Party members: 4 members (not 钱群众,
# a 群众) x 2 = 8, confirmed 3 (王 x2, 孙 late).
BUREAU_SUMMARY = """📊 县教育局机关党支部 · 上月
2026-11-01 ~ 2026-11-30
组织生活出勤 38%（3/8）
日常签到 55%（115/210）
学习完成 38%（3/8）

【日常签到】
周管理 按时0 迟到0 缺42
李书记 按时10 迟到0 缺32
王党员 按时40 迟到2 缺0
孙预备 按时21 迟到0 缺21
钱群众 按时42 迟到0 缺0

【组织生活】
周管理 出席0 迟到0 请假0 缺席2
李书记 出席0 迟到0 请假1 缺席1
王党员 出席2 迟到0 请假0 缺席0
孙预备 出席0 迟到1 请假0 缺席1

【学习】
周管理 已学0 逾期0 未学2
李书记 已学0 逾期0 未学2
王党员 已学2 逾期0 未学0
孙预备 已学0 逾期1 未学1"""


@pytest.fixture
async def november(app, chat):
    await script_november(app, chat)
    return app


async def test_secretary_summary_matches_hand_count(november, chat):
    reply = await chat.say("li", "汇总 上月")
    assert reply.text == BUREAU_SUMMARY
    assert reply.image_png is not None and reply.image_png.startswith(b"\x89PNG")


async def test_alias_and_explicit_month_give_the_same_figures(november, chat):
    assert await chat.text("li", "统计 2026-11") == BUREAU_SUMMARY.replace("上月", "2026年11月")


async def test_admin_sees_every_branch_ranked(november, chat):
    reply = await chat.text("zhou", "汇总 上月", direct=True)
    assert reply == (
        "📊 全县 · 上月\n2026-11-01 ~ 2026-11-30\n共 2 个支部，按三项平均率排名\n\n"
        "【支部排名】\n"
        "1. 县教育局机关党支部（5人）\n  出勤38% 签到55% 学习38%\n"
        "2. 县第一中学党支部（3人）\n  出勤33% 学习33%"
    )


async def test_admin_may_name_a_branch(november, chat):
    reply = await chat.text("zhou", f"汇总 上月 {SCHOOL}", direct=True)
    assert reply.startswith(f"📊 {SCHOOL} · 上月")
    assert "刘老师 出席1 迟到0 请假0 缺席0" in reply
    assert "陈书记 出席0 迟到0 请假0 缺席1" in reply
    assert "【日常签到】" not in reply  # the school has no daily check-in


async def test_dingtalk_summary_carries_the_export_link_instead_of_an_image(november, chat):
    reply = await chat.say("chen-dt", "汇总 上月", platform="dingtalk", chat="cid-school")
    assert reply.image_png is None
    assert "/exports/1." in reply.text and reply.text.startswith(f"📊 {SCHOOL}")


async def test_not_studied_lists_who_is_missing(november, chat):
    assert await chat.text("li", "未学习 1") == (
        "📚 #1《学习二十大报告》\n县教育局机关党支部（党员）：已学 2 人，未学 2 人\n"
        "截止 11月20日(周五)\n\n未学：\n周管理、李书记"
    )
    # The admin, in a direct chat, sees the county-wide task across branches.
    assert await chat.text("zhou", "未学习 1", direct=True) == (
        "📚 #1《学习二十大报告》\n全县（党员）：已学 3 人，未学 4 人\n截止 11月20日(周五)\n\n"
        "未学：\n县教育局机关党支部：周管理、李书记\n县第一中学党支部：陈书记、新同志"
    )


async def test_missing_checkins_on_a_day(november, chat):
    assert await chat.text("li", "未签到 2026-11-30") == (
        "🕒 县教育局机关党支部 · 11月30日(周一) 未签到\n\n"
        "【上班】2 人\n周管理、李书记\n\n【下班】3 人\n周管理、李书记、孙预备"
    )
    assert await chat.text("li", "缺勤 2026-11-29") == "11月29日(周日) 是休息日，无需签到。"


async def test_export_link_serves_the_workbook_with_hand_counted_values(november, chat):
    reply = await chat.text("li", "导出 上月")
    url = reply.splitlines()[-1]
    path = url.removeprefix("http://127.0.0.1:8080")
    async with TestClient(TestServer(november.web_app())) as client:
        resp = await client.get(path)
        assert resp.status == 200
        assert resp.content_type.endswith("spreadsheetml.sheet")
        body = await resp.read()
    wb = load_workbook(io.BytesIO(body))
    # No talk, grade or pledge recorded: of the year's sheets only 换届 (every branch,
    # 未登记 here).
    assert wb.sheetnames == ["汇总", "日常签到", "组织生活", "学习", "换届"]
    summary = wb["汇总"]
    assert summary.freeze_panes == "A2"
    assert [c.value for c in summary[1]][:8] == [
        "支部", "人数", "应到人次", "出席", "迟到", "请假", "缺席", "出勤率"
    ]  # fmt: skip
    row = [c.value for c in summary[2]]
    assert row[:7] == [BUREAU, 5, 8, 2, 1, 1, 4]
    assert row[7] == pytest.approx(3 / 8)
    assert row[8:11] == [210, 115, pytest.approx(115 / 210)]
    assert row[11:13] == [8, 3]
    assert row[14] == datetime(2026, 11, 1)  # a real date cell
    assert summary.max_row <= 4  # only the secretary's branch (plus the title line)

    checkin = {r[1]: r[2:6] for r in wb["日常签到"].iter_rows(min_row=2, values_only=True)}
    assert checkin["王党员"] == (40, 2, 0, 42)
    assert checkin["孙预备"] == (21, 0, 21, 42)

    events = list(wb["组织生活"].iter_rows(min_row=2, values_only=True))
    assert len(events) == 8
    assert events[0][0] == datetime(2026, 11, 6) and events[0][1] == "15:00"
    assert events[0][3] == 1  # the meeting's number
    statuses = sorted((r[5], r[4], r[6]) for r in events)
    assert ("李书记", "主题党日", "请假") in statuses
    assert ("孙预备", "主题党日", "迟到") in statuses
    assert ("周管理", "党课", "缺席") in statuses
    assert all(r[2] == BUREAU for r in events)

    study = list(wb["学习"].iter_rows(min_row=2, values_only=True))
    assert len(study) == 8
    assert "钱群众" not in {r[4] for r in study}
    sun_task1 = next(r for r in study if r[0] == 1 and r[4] == "孙预备")
    assert sun_task1[5] == "逾期" and sun_task1[2] == datetime(2026, 11, 20)
    assert sun_task1[6] == datetime(2026, 11, 22, 9, 0)
    assert all(r[3] == BUREAU for r in study)


async def test_cli_summary_and_xlsx_match(november, tmp_path):
    db_url = november.settings.database.url
    config = tmp_path / "q.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n[[branches]]\nname = "{BUREAU}"\ndaily_checkin = true\n',
        encoding="utf-8",
    )
    xlsx = tmp_path / "out.xlsx"
    args = ["summary", "上月", "--branch", BUREAU, "--xlsx", str(xlsx)]
    args += ["--at", "2026-12-01 08:10", "--config", str(config)]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(BUREAU_SUMMARY)
    assert load_workbook(xlsx)["汇总"]["B2"].value == 5

    args = ["summary", "2026-11", "--at", "2026-12-01 08:10", "--config", str(config)]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    assert "1. 县教育局机关党支部（5人）" in result.output

    bad = ["summary", "下个月", "--config", str(config)]
    result = await asyncio.to_thread(CliRunner().invoke, cli, bad)
    assert result.exit_code == 1 and "看不懂期间" in result.output


async def test_monthly_push_for_the_scheduler(november):
    bureau = await branch_id(november, BUREAU)
    async with november.db.read() as s:
        reply = await monthly_summary(
            s,
            november.services,
            november.reminders.templates,
            bureau,
            "2026-12",
            november.clock.now(),
        )
    assert reply is not None
    # The secretary gets 汇总 上月 as is; no 组织生活预警: everyone has been on the roster
    # since October 1, not yet the three months the warning speaks of. December is in the
    # last quarter: the 谈心谈话 line counts 党员 and 预备党员 not yet talked with.
    assert reply.text == (
        BUREAU_SUMMARY + "\n\n🗣 谈心谈话：今年还有 4 名党员未谈心谈话，发送“谈心 情况”查看名单。"
    )
