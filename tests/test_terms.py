"""换届: the secretary's reminders, the admins' weekly notice, 换届 in chat, the CLI and the
export sheet."""

from __future__ import annotations

import asyncio
import io
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import select
from typer.testing import CliRunner

from bot.app import App
from bot.cli import cli
from bot.clock import FakeClock, SystemClock
from handlers.periods import Period
from handlers.roster import import_roster
from handlers.summary import export_workbook
from storage import members, terms
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import BranchTerm
from tests.conftest import BUREAU, ROSTER, SCHOOL, at, branch_id
from tests.recording_transport import RecordingTransport

PRIMARY = "县实验小学党支部"
SECOND = "县第二中学党支部"


def recorder(app: App) -> RecordingTransport:
    t = RecordingTransport()
    app.transports["wecom"] = t
    return t


async def elect(app: App, branch: str, day: str, years: int = 3) -> None:
    async with app.db.write() as s:
        found = await members.get_or_create_branch(s, branch)
        assert found.id is not None
        await terms.record(s, found.id, date.fromisoformat(day), years, "test", at(day + " 10:00"))


def term_texts(sent: RecordingTransport, who: str) -> list[str]:
    return [t for t in sent.to(who) if "换届" in t]


async def tick_at(app: App, clock: FakeClock, when: str) -> None:
    clock.set(at(when))
    await app.reminders.tick()


# ---- the secretary's reminders ------------------------------------------------------------


async def test_secretary_is_reminded_6_3_and_1_months_before_on_working_days(
    app: App, clock: FakeClock
) -> None:
    sent = recorder(app)
    await elect(app, BUREAU, "2023-12-20")
    # 2026-06-20 is a Saturday and 06-19 the 端午 holiday: the Thursday before. 2026-09-20
    # is a Sunday worked for the National Day holiday (调休): that day. 11-20 is a Friday.
    expected = [
        ("2026-06-18", "还有 6 个月 2 天"),
        ("2026-09-20", "还有 3 个月"),
        ("2026-11-20", "还有 1 个月"),
    ]
    got = 0
    for day, left in expected:
        await tick_at(app, clock, f"{day} 08:59")
        assert len(term_texts(sent, "li")) == got  # not before 09:00
        await tick_at(app, clock, f"{day} 09:00")
        texts = term_texts(sent, "li")
        assert len(texts) == got + 1
        got += 1
        assert texts[-1] == (
            f"🗳️ 换届提醒：{BUREAU}\n"
            f"本届支部委员会 2023年12月20日 选举产生，任期 3 年，将于 2026年12月20日 届满"
            f"（{left}）。\n"
            "请提前做好换届选举准备，按程序向上级党组织报告；"
            f"选举后请把选举日期告诉管理员登记（qingfeng branch term {BUREAU} "
            "--elected YYYY-MM-DD）。"
        )
        await tick_at(app, clock, f"{day} 10:00")  # once only
        assert len(term_texts(sent, "li")) == got
    # The secretary of the other branch, and the members, hear nothing.
    assert term_texts(sent, "chen") == [] and term_texts(sent, "wang") == []
    assert all(not s.to.startswith("wr-") for s in sent.sent if "换届" in s.text)


async def test_a_new_election_silences_reminders_already_planned(
    app: App, clock: FakeClock
) -> None:
    sent = recorder(app)
    await elect(app, BUREAU, "2023-12-20")
    await tick_at(app, clock, "2026-11-16 09:00")  # the 11-20 reminder is now in the outbox
    await elect(app, BUREAU, "2026-11-17")
    await tick_at(app, clock, "2026-11-20 09:00")
    assert term_texts(sent, "li") == []


# ---- the admins' weekly notice -------------------------------------------------------------


async def test_admin_hears_weekly_until_a_new_election_is_recorded(
    app: App, clock: FakeClock
) -> None:
    sent = recorder(app)
    await elect(app, BUREAU, "2023-12-20")
    await elect(app, SCHOOL, "2024-09-01")  # ends 2027-09-01: not overdue
    await tick_at(app, clock, "2026-12-20 09:00")  # the end day is a Sunday: nothing yet
    assert term_texts(sent, "zhou") == []
    for n, (day, late) in enumerate(
        [("2026-12-21", 1), ("2026-12-28", 8), ("2027-01-04", 15)], start=1
    ):
        await tick_at(app, clock, f"{day} 08:59")
        assert len(term_texts(sent, "zhou")) == n - 1
        await tick_at(app, clock, f"{day} 09:00")
        await tick_at(app, clock, f"{day} 11:00")
        texts = term_texts(sent, "zhou")
        assert len(texts) == n
        assert texts[-1] == (
            "🗳️ 换届督促：1 个支部任期已届满，尚未登记新一届选举\n"
            f"{BUREAU}（2026-12-20 届满，已超期 {late} 天）\n"
            "请督促按期换届；选举后登记：qingfeng branch term 支部 --elected YYYY-MM-DD"
        )
    # Not a message a day in between, nor to the secretaries.
    await tick_at(app, clock, "2027-01-06 09:00")
    assert len(term_texts(sent, "zhou")) == 3
    assert not [t for t in term_texts(sent, "li") if "督促" in t]
    await elect(app, BUREAU, "2027-01-08")
    await tick_at(app, clock, "2027-01-11 09:00")
    await tick_at(app, clock, "2027-01-18 09:00")
    assert len(term_texts(sent, "zhou")) == 3


async def test_one_weekly_notice_lists_every_overdue_branch(app: App, clock: FakeClock) -> None:
    sent = recorder(app)
    await elect(app, BUREAU, "2023-12-20")
    await elect(app, SCHOOL, "2023-12-16")  # ended Wednesday 2026-12-16: a first notice then
    await tick_at(app, clock, "2026-12-16 09:00")
    assert term_texts(sent, "zhou") == [
        "🗳️ 换届督促：1 个支部任期已届满\n"
        f"{SCHOOL}（2026-12-16 届满，今天届满）\n"
        "请督促按期换届；选举后登记：qingfeng branch term 支部 --elected YYYY-MM-DD"
    ]
    await tick_at(app, clock, "2026-12-21 09:00")
    last = term_texts(sent, "zhou")[-1]
    assert len(term_texts(sent, "zhou")) == 2
    assert last.splitlines()[:3] == [
        "🗳️ 换届督促：2 个支部任期已届满，尚未登记新一届选举",
        f"{SCHOOL}（2026-12-16 届满，已超期 5 天）",
        f"{BUREAU}（2026-12-20 届满，已超期 1 天）",
    ]


# ---- 换届 in chat --------------------------------------------------------------------------


async def test_secretary_sees_her_branchs_term(app: App, chat) -> None:
    reply = await chat.text("li", "换届")
    assert reply == (
        f"🗳️ {BUREAU} 尚未登记换届信息。\n"
        f"请把最近一次换届选举的日期告诉管理员登记：qingfeng branch term {BUREAU} "
        "--elected YYYY-MM-DD"
    )
    await elect(app, BUREAU, "2023-12-20")
    assert await chat.text("li", "换届", direct=True) == (
        f"🗳️ {BUREAU} 换届情况\n"
        "本届选举：2023年12月20日，任期 3 年\n"
        "届满日期：2026年12月20日（还有 19 天）\n"
        "请提前做好换届选举准备，按程序向上级党组织报告。"
    )
    await elect(app, SCHOOL, "2021-06-01", years=5)
    reply = await chat.text("chen", "换届", chat="wr-school")
    assert "届满日期：2026年6月1日（已超期 183 天）" in reply and "尽快组织换届选举" in reply
    assert BUREAU not in reply
    assert await chat.text("chen", f"换届 {BUREAU}", chat="wr-school") == (
        "您只能查看本支部的换届情况，请发送：换届"
    )
    assert "任期 5 年" in await chat.text("chen", f"换届 {SCHOOL}", chat="wr-school")


async def test_admin_sees_the_county_table(app: App, chat) -> None:
    await elect(app, BUREAU, "2023-11-20")  # ended 2026-11-20
    await elect(app, SCHOOL, "2024-03-01")  # ends 2027-03-01, within 6 months
    await elect(app, PRIMARY, "2025-09-01")  # ends 2028
    async with app.db.write() as s:
        await members.get_or_create_branch(s, SECOND)
    reply = await chat.text("zhou", "换届", direct=True)
    assert reply.splitlines() == [
        "🗳️ 全县支部换届情况（2026年12月1日，共 4 个支部）",
        "已到期：1 个",
        f"  {BUREAU}（2026-11-20 届满，已超期 11 天）",
        "6个月内到期：1 个",
        f"  {SCHOOL}（2027-03-01 届满，还有 3 个月）",
        "正常：1 个",
        "未登记：1 个",
        f"  {SECOND}",
    ]
    one = await chat.text("zhou", f"换届 {SCHOOL}")
    assert one.startswith(f"🗳️ {SCHOOL} 换届情况\n本届选举：2024年3月1日")
    assert "60 字以内" in await chat.text("zhou", "换届 " + "支" * 61)
    assert await chat.text("zhou", "换届 县第一中学") == (
        f"没有叫“县第一中学”的支部。（您是不是要写：{SCHOOL}、{SECOND}？）"
    )


async def test_a_member_is_refused(app: App, chat) -> None:
    await elect(app, BUREAU, "2023-12-20")
    for kw in ({}, {"direct": True}):
        reply = await chat.text("wang", "换届", **kw)
        assert "支部书记" in reply and "\n" not in reply and "2026" not in reply


# ---- the export sheet ---------------------------------------------------------------------


async def test_export_has_a_term_sheet(app: App, clock: FakeClock) -> None:
    await elect(app, BUREAU, "2023-11-20")
    await elect(app, BUREAU, "2020-11-20")  # history: the later election stands
    await elect(app, SCHOOL, "2024-02-29", years=5)
    period = Period(date(2026, 11, 1), date(2026, 11, 30), "上月")

    async def sheet(branch: int | None) -> list[tuple[object, ...]]:
        async with app.db.read() as s:
            body = await export_workbook(s, app.services, branch, period, clock.now())
        assert body is not None
        ws = load_workbook(io.BytesIO(body))["换届"]
        return [tuple(r) for r in ws.iter_rows(values_only=True)]

    rows = await sheet(None)
    assert rows == [
        ("支部", "选举日期", "任期（年）", "届满日期", "状态"),
        (BUREAU, datetime(2023, 11, 20), 3, datetime(2026, 11, 20), "已到期"),
        (SCHOOL, datetime(2024, 2, 29), 5, datetime(2029, 2, 28), "正常"),
    ]
    assert await sheet(await branch_id(app, SCHOOL)) == [rows[0], rows[2]]


# ---- the command line ---------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    db_path = tmp_path / "q.db"
    path = tmp_path / "qingfeng.toml"
    path.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{db_path}"\n', encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")

    async def setup() -> None:
        db = Database(f"sqlite+aiosqlite:///{db_path}")
        await upgrade(db)
        await import_roster(db, roster, SystemClock().now())
        await db.dispose()

    asyncio.run(setup())
    return path


def run(config: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["branch", "term", *args, "--config", str(config)])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.output


def shows(out: str, *lines: str) -> bool:
    """The lines, whole and in a row: in a full run, a logging handler an earlier test left on
    a closed stream may print its complaint around them."""
    return f"\n{out}".find("\n" + "\n".join(lines) + "\n") >= 0


def stored(config: Path) -> list[tuple[str, date, int]]:
    async def go() -> list[tuple[str, date, int]]:
        db = Database(f"sqlite+aiosqlite:///{config.parent / 'q.db'}")
        try:
            async with db.read() as s:
                names = {b.id: b.name for b in await members.all_branches(s)}
                found = (await s.exec(select(BranchTerm).order_by(BranchTerm.id))).all()
                return [(names[t.branch_id], t.elected_on, t.years) for t in found]
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_cli_records_updates_and_lists(config: Path) -> None:
    code, out = run(config, SCHOOL, "--elected", "2023-12-20")
    assert code == 0
    assert f"已登记：{SCHOOL}：2023-12-20 选举，任期 3 年，2026-12-20 届满 · 新登记\n" in out
    code, out = run(config, SCHOOL, "--elected", "2023-12-20", "--years", "5")
    assert code == 0 and "2028-12-20 届满 · 更新任期（原 3 年）" in out
    code, out = run(config, BUREAU, "--elected", "2010-01-05")
    assert code == 0
    assert stored(config) == [(SCHOOL, date(2023, 12, 20), 5), (BUREAU, date(2010, 1, 5), 3)]
    code, out = run(config)
    assert code == 0 and "共 2 个支部" in out
    assert f"已到期：1 个\n  {BUREAU}（2013-01-05 届满，已超期" in out
    code, out = run(config, SCHOOL)
    assert code == 0 and "本届选举：2023年12月20日，任期 5 年" in out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("县第一中学", "--elected", "2023-12-20"),
            f"没有叫“县第一中学”的支部。（您是不是要写：{SCHOOL}？）",
        ),
        ((SCHOOL, "--elected", "2023-13-01"), "没有这一天：2023-13-01"),
        ((SCHOOL, "--elected", "2099-01-01"), "选举日期不能晚于今天：2099-01-01"),
        ((SCHOOL, "--elected", "2023-12-20", "--years", "0"), "任期应为 1–5 年：0"),
        (
            ("--elected", "2023-12-20"),
            "--elected、--remove 要写在支部名称后面，如：branch term 支部 --elected 日期",
        ),
        (
            (SCHOOL, "--years", "5"),
            "--years 要和 --elected 一起用（批量登记的任期写在文件的“任期”列）",
        ),
        ((SCHOOL, "--yes"), "--yes 只用于 --import 批量登记"),
        (
            (SCHOOL, "--remove", "2023-12-20"),
            f"{SCHOOL} 没有 2023-12-20 的换届记录，未做任何修改。",
        ),
    ],
)
def test_cli_refuses_with_one_line(config: Path, args: tuple[str, ...], error: str) -> None:
    code, out = run(config, *args)
    assert code == 1 and shows(out, error)
    assert stored(config) == []


def test_cli_removes_a_record_entered_by_mistake(config: Path) -> None:
    assert run(config, SCHOOL, "--elected", "2023-12-20")[0] == 0
    assert run(config, SCHOOL, "--elected", "2025-12-20")[0] == 0  # meant 2023: silences
    code, out = run(config, SCHOOL, "--remove", "2025-12-20")
    assert code == 0 and shows(out, f"已删除 {SCHOOL} 2025-12-20 的换届记录。现在：")
    assert "本届选举：2023年12月20日，任期 3 年" in out
    assert stored(config) == [(SCHOOL, date(2023, 12, 20), 3)]


TERMS_CSV = f"""各支部换届情况
支部,换届日期,任期（年）
{BUREAU},2023-12-20,
{SCHOOL},2021/06/01,5
"""


def test_cli_import_previews_then_records(config: Path, tmp_path: Path) -> None:
    file = tmp_path / "terms.csv"
    file.write_text(TERMS_CSV, encoding="utf-8")
    code, out = run(config, "--import", str(file))
    assert code == 0
    assert shows(
        out,
        f"第 3 行 {BUREAU}：2023-12-20 选举，任期 3 年，2026-12-20 届满 · 新登记",
        f"第 4 行 {SCHOOL}：2021-06-01 选举，任期 5 年，2026-06-01 届满 · 新登记",
        "预览：2 条换届记录。",
        "未做任何修改。核对无误后加 --yes 再运行一次即登记。",
    )
    assert stored(config) == []
    code, out = run(config, "--import", str(file), "--yes")
    assert code == 0 and shows(out, "已登记 2 条换届记录。")
    assert stored(config) == [(BUREAU, date(2023, 12, 20), 3), (SCHOOL, date(2021, 6, 1), 5)]
    code, out = run(config, "--import", str(file))
    assert "2023-12-20 届满" not in out and out.count("已登记，无变化") == 2


def test_cli_import_xlsx(config: Path, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["支部", "选举日期"])
    ws.append([SCHOOL, datetime(2024, 2, 29)])  # a date cell, as Excel stores one
    file = tmp_path / "terms.xlsx"
    wb.save(file)
    code, out = run(config, "--import", str(file), "--yes")
    assert code == 0 and "2024-02-29 选举，任期 3 年，2027-02-28 届满" in out
    assert stored(config) == [(SCHOOL, date(2024, 2, 29), 3)]


def test_cli_import_refuses_bad_rows_and_writes_nothing(config: Path, tmp_path: Path) -> None:
    file = tmp_path / "terms.csv"
    file.write_text(
        "支部,换届日期,任期（年）\n"
        f"{BUREAU},2023-12-20,3\n"
        f"{SCHOOL},20231220,3\n"
        f"{SCHOOL},2023-12-20,三\n"
        f"{BUREAU},2023-12-20,3\n",
        encoding="utf-8",
    )
    code, out = run(config, "--import", str(file), "--yes")
    assert code == 1
    assert shows(
        out,
        "换届文件有 3 处错误，未登记任何记录：",
        "第 3 行：日期格式应为 YYYY-MM-DD：20231220",
        "第 4 行：任期应是整数年：三",
        "第 5 行：与第 2 行重复",
    )
    file.write_text(f"支部,换届日期\n{BUREAU},2023-12-20\n县一中,2023-12-20\n", encoding="utf-8")
    code, out = run(config, "--import", str(file), "--yes")
    assert code == 1 and "第 3 行：没有叫“县一中”的支部。" in out
    assert stored(config) == []


def test_cli_calendar_lists_the_term_pushes_and_the_yearly_check(config: Path) -> None:
    """`qingfeng calendar` shows the pushes that come from recorded terms and the admins'
    yearly check, with whom they go to, beside the rule pushes."""
    assert run(config, SCHOOL, "--elected", "2023-12-20")[0] == 0

    def calendar(*args: str) -> list[str]:
        r = CliRunner().invoke(cli, ["calendar", *args, "--config", str(config)])
        assert r.exit_code == 0, r.output
        return r.output.splitlines()

    out = calendar("2026")
    # 6, 3 and 1 months before 2026-12-20, moved to the last working day before a rest
    # day (06-20 a Saturday, 06-19 端午); 09-20 is a 国庆 make-up working day.
    for day in ("2026-06-18 周四", "2026-09-20 周日", "2026-11-20 周五"):
        assert any(
            line.startswith(f"{day} 09:00  换届提醒（2026-12-20 届满")
            and line.endswith(f"→ {SCHOOL}书记")
            for line in out
        ), day
    # It ends on Sunday 12-20: the admins' first notice is that week's, Monday 12-21,
    # then every week until a new election is recorded.
    overdue = "换届督促：已到期未换届的支部一览（登记新一届后不再发）  → 管理员（私信）"
    assert [line[:19] for line in out if overdue in line] == [
        "2026-12-21 周一 09:00", "2026-12-28 周一 09:00"
    ]
    # The window's last working day: 02-28, a Saturday made a working day after 春节.
    yearly = "组织生活会、民主评议未召开支部名单（都已召开则不发）"
    assert f"2026-02-28 周六 17:00  {yearly}  → 管理员（私信）" in out
    dated = [line[:16] for line in out if line[:4] == "2026"]
    assert dated == sorted(dated)
    # --branch keeps that branch's and the county's pushes only.
    other = calendar("2026", "--branch", BUREAU)
    assert not any("换届" in line for line in other)
    assert any("未召开支部名单" in line for line in other)


def test_cli_calendar_shows_every_weekly_notice_of_a_term_long_ended(config: Path) -> None:
    """A term that ended years ago brings the admins a notice every week, as planned; one
    ending mid-week brings a first notice that day (a Wednesday here)."""
    assert run(config, BUREAU, "--elected", "2020-01-06")[0] == 0  # ended 2023-01-06
    assert run(config, SCHOOL, "--elected", "2023-12-16")[0] == 0  # ends Wed 2026-12-16
    r = CliRunner().invoke(cli, ["calendar", "2026", "--config", str(config)])
    assert r.exit_code == 0, r.output
    out = r.output.splitlines()
    weekly = [line for line in out if "已到期未换届的支部一览" in line]
    # 52 weeks less 春节's (02-16 to 02-22 has no working day).
    assert len(weekly) == 51 and weekly[0].startswith("2026-01-05 周一 09:00")
    assert [line[:13] for line in weekly[5:7]] == ["2026-02-09 周一", "2026-02-24 周二"]
    assert f"2026-12-16 周三 09:00  换届督促：{SCHOOL}任期届满  → 管理员（私信）" in out
    # A year whose official holidays are not out yet: the dates are estimates.
    r = CliRunner().invoke(cli, ["calendar", "2027", "--config", str(config)])
    assert r.exit_code == 0, r.output
    terms_lines = [line for line in r.output.splitlines() if "换届" in line]
    assert terms_lines and all(line.endswith("[估算]") for line in terms_lines)
