"""qingfeng member … and qingfeng branch …: the operator's changes, in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import cli
from bot.clock import SystemClock
from handlers.roster import import_roster
from storage import members
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import Event, Group
from tests.conftest import BUREAU, ROSTER, SCHOOL


@pytest.fixture
def config(tmp_path: Path) -> Path:
    db_path = tmp_path / "q.db"
    path = tmp_path / "qingfeng.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{db_path}"\n\n'
        f'[[groups]]\nname = "一中群"\nbranch = "{SCHOOL}"\nplatform = "wecom"\nchat_id = "wr-s"\n',
        encoding="utf-8",
    )
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")

    async def setup() -> None:
        db = Database(f"sqlite+aiosqlite:///{db_path}")
        await upgrade(db)
        await import_roster(db, roster, SystemClock().now())
        async with db.write() as s:
            school = await members.branch_by_name(s, SCHOOL)
            assert school is not None
            s.add(Group(name="一中群", platform="wecom", chat_id="wr-s", branch_id=school.id))
            s.add(Event(branch_id=school.id, number=1, kind="党课", starts_at=SystemClock().now()))
        await db.dispose()

    asyncio.run(setup())
    return path


def run(config: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, [*args, "--config", str(config)])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.output


def test_member_list_all_unbound_and_by_branch(config: Path) -> None:
    code, out = run(config, "member", "list")
    assert code == 0 and "共 8 名人员。" in out
    code, out = run(config, "member", "list", "--unbound")
    assert code == 0
    assert "新同志" in out and "李书记" not in out and "共 1 名未绑定的人员。" in out
    code, out = run(config, "member", "list", "--branch", SCHOOL)
    assert "共 3 名人员。" in out and "刘老师\t13900000012" in out and "企业微信、钉钉" in out


def test_unknown_branch_and_phone_name_close_matches(config: Path) -> None:
    code, out = run(config, "member", "list", "--branch", "县第一中学支部")
    assert code == 1
    assert out.strip() == f"没有叫“县第一中学支部”的支部。（您是不是要写：{SCHOOL}？）"
    code, out = run(config, "member", "leave", "13900000013")
    assert code == 1 and "没有手机号为 13900000013 的人员" in out and "13900000012" in out
    assert "Traceback" not in out


def test_leave_keeps_history_and_unbinds(config: Path) -> None:
    code, out = run(config, "member", "leave", "13900000012")
    assert code == 0 and "刘老师（13900000012）已设为离开" in out
    _, out = run(config, "member", "list", "--branch", SCHOOL)
    assert "刘老师" not in out and "共 2 名人员。" in out
    code, out = run(config, "member", "leave", "13900000012")
    assert code == 1 and "已经是离开状态" in out
    # Still there for history: the branch cannot be removed while it holds them.
    _, out = run(config, "branch", "list")
    assert f"{SCHOOL}\t2 人（未绑定 1）\t1 个群" in out


def test_move_and_unbind(config: Path) -> None:
    code, out = run(config, "member", "move", "13900000012", BUREAU)
    assert code == 0 and out.strip() == f"刘老师 已从 {SCHOOL} 调到 {BUREAU}。"
    _, out = run(config, "member", "list", "--branch", BUREAU)
    assert "刘老师" in out
    code, out = run(config, "member", "unbind", "13900000012", "--platform", "dingtalk")
    assert code == 0 and "已解除 刘老师 的钉钉账号绑定。" in out
    code, out = run(config, "member", "unbind", "13900000012", "--platform", "dingtalk")
    assert code == 1 and "没有绑定钉钉账号" in out
    code, out = run(config, "member", "unbind", "13900000012", "--platform", "qq")
    assert code == 1 and "平台应为 wecom" in out


def test_branch_rename_tells_to_fix_the_config(config: Path) -> None:
    code, out = run(config, "branch", "rename", SCHOOL, "县一中党支部")
    assert code == 0 and f"支部已改名：{SCHOOL} → 县一中党支部" in out
    assert "请同时把配置文件里的" in out
    code, out = run(config, "branch", "rename", "县一中党支部", BUREAU)
    assert code == 1 and "已有叫" in out
    _, out = run(config, "member", "list", "--branch", "县一中党支部")
    assert "共 3 名人员。" in out


def test_branch_merge_moves_everything_and_removes_source(config: Path) -> None:
    code, out = run(config, "branch", "merge", SCHOOL, BUREAU)
    assert code == 0, out
    assert "人员 3、群 1、会议 1、学习任务 0" in out
    _, out = run(config, "branch", "list")
    assert SCHOOL not in out and f"{BUREAU}\t8 人" in out and "共 1 个支部。" in out


def _add_empty_branch(config: Path, name: str) -> None:
    """A branch with nobody in it, written straight to the database."""

    async def add() -> None:
        db = Database(f"sqlite+aiosqlite:///{config.parent / 'q.db'}")
        async with db.write() as s:
            await members.get_or_create_branch(s, name)
        await db.dispose()

    asyncio.run(add())


def test_branch_remove_only_when_empty(config: Path) -> None:
    code, out = run(config, "branch", "remove", SCHOOL)
    assert code == 1
    assert "3 名人员（含已离开的）、1 个群、1 个会议" in out and "不能删除" in out
    assert len(out.strip().splitlines()) == 1
    code, out = run(config, "branch", "remove", "县第一中学")
    assert code == 1 and "您是不是要写" in out
    _add_empty_branch(config, "县一中党支布")
    code, out = run(config, "branch", "remove", "县一中党支布")
    assert code == 0 and "已删除" in out


def test_missing_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "qingfeng.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "none.db"}"\n', encoding="utf-8"
    )
    for args in (("member", "list"), ("branch", "list"), ("member", "leave", "13900000012")):
        code, out = run(path, *args)
        assert code == 1 and len(out.strip().splitlines()) == 1 and "数据库" in out


def test_merge_cancels_planned_meetings_the_target_already_has(config: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlmodel import select

    from storage import outbox
    from storage.models import Outbox

    url = f"sqlite+aiosqlite:///{config.parent / 'q.db'}"
    when = datetime.now(UTC) + timedelta(days=40)

    async def plan() -> int:
        db = Database(url)
        async with db.write() as s:
            bureau = await members.branch_by_name(s, BUREAU)
            school = await members.branch_by_name(s, SCHOOL)
            assert bureau is not None and school is not None
            for b, key in ((bureau, "b"), (school, "s")):
                s.add(
                    Event(branch_id=b.id, number=7, kind="主题党日", starts_at=when, rule_key=key)
                )
            await s.flush()
            doubled = (await s.exec(select(Event).where(Event.rule_key == "s"))).one()
            row = {
                "key": f"event:{doubled.id}:preview",
                "kind": "event_preview",
                "due_at": when,
                "payload": "{}",
                "group_id": None,
            }
            await outbox.enqueue(s, [row], datetime.now(UTC))
        await db.dispose()
        assert doubled.id is not None
        return doubled.id

    doubled = asyncio.run(plan())
    code, out = run(config, "branch", "merge", SCHOOL, BUREAU)
    assert code == 0 and "会议 2" in out and "1 场会议与" in out and "已取消" in out

    async def check() -> tuple[Event, Outbox]:
        db = Database(url)
        async with db.read() as s:
            event = await s.get(Event, doubled)
            row = (await s.exec(select(Outbox))).one()
        await db.dispose()
        assert event is not None
        return event, row

    event, row = asyncio.run(check())
    assert event.cancelled_at is not None and event.number == 9  # after the bureau's 7 and 8
    assert row.state == "skipped"


def test_changes_are_kept_in_the_history(config: Path) -> None:
    from storage import audit

    run(config, "member", "move", "13900000012", BUREAU)
    run(config, "member", "unbind", "13900000012", "--platform", "wecom")
    run(config, "member", "leave", "13900000012")

    async def history() -> list[tuple[str, str, str]]:
        db = Database(f"sqlite+aiosqlite:///{config.parent / 'q.db'}")
        async with db.read() as s:
            rows = await audit.history(s, "13900000012")
        await db.dispose()
        return [(c.action, c.detail, c.source) for c in rows if c.source.startswith("member")]

    assert asyncio.run(history()) == [
        ("调动", f"支部 {SCHOOL} → {BUREAU}", "member move"),
        ("解绑", "企业微信账号 liu → ", "member unbind"),
        ("离开", "在册 是 → 否\n钉钉账号 liu-dt → ", "member leave"),
    ]


def test_phone_written_as_people_write_it(config: Path) -> None:
    code, out = run(config, "member", "move", "+86 139-0000-0012", BUREAU)
    assert code == 0 and "刘老师 已从" in out
    code, out = run(config, "member", "leave", "１３９００００００１２")
    assert code == 0 and "刘老师（13900000012）已设为离开" in out


def _db_rows(config: Path, sql: str) -> list[tuple]:
    import sqlite3

    con = sqlite3.connect(config.parent / "q.db")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_merge_and_remove_with_the_branchs_year_recorded(config: Path) -> None:
    """换届, 谈心 and 评议 records do not block a merger: talks and grades follow their
    people, the source's terms go; an empty branch's terms go with it."""
    for branch, day in ((SCHOOL, "2023-12-20"), (BUREAU, "2025-03-01")):
        code, out = run(config, "branch", "term", branch, "--elected", day)
        assert code == 0, out

    async def talk_and_grade() -> None:
        from datetime import UTC, datetime

        from storage.models import Appraisal, Talk

        db = Database(f"sqlite+aiosqlite:///{config.parent / 'q.db'}")
        async with db.write() as s:
            school = await members.branch_by_name(s, SCHOOL)
            (liu,) = await members.members_named(s, "刘老师")
            (chen,) = await members.members_named(s, "陈书记")
            assert school and school.id and liu.id and chen.id
            now = datetime.now(UTC)
            s.add(Talk(branch_id=school.id, member_id=liu.id, by_member_id=chen.id, at=now))
            s.add(Appraisal(branch_id=school.id, member_id=liu.id, year=2026, grade="优秀",
                            by_member_id=chen.id, at=now))  # fmt: skip
        await db.dispose()

    asyncio.run(talk_and_grade())
    code, out = run(config, "branch", "merge", SCHOOL, BUREAU)
    assert code == 0, out
    assert f"{SCHOOL} 的 1 条换届记录已删除：合并后以 {BUREAU} 的支委会任期为准。" in out
    (bureau_id,) = _db_rows(config, f"SELECT id FROM branches WHERE name = '{BUREAU}'")[0]
    assert _db_rows(config, "SELECT branch_id FROM talks") == [(bureau_id,)]
    assert _db_rows(config, "SELECT branch_id, grade FROM appraisals") == [(bureau_id, "优秀")]
    assert _db_rows(config, "SELECT branch_id, elected_on FROM branch_terms") == [
        (bureau_id, "2025-03-01")
    ]
    _add_empty_branch(config, "县二中党支部")
    assert run(config, "branch", "term", "县二中党支部", "--elected", "2024-06-01")[0] == 0
    code, out = run(config, "branch", "remove", "县二中党支部")
    assert code == 0 and "已删除" in out
    assert len(_db_rows(config, "SELECT * FROM branch_terms")) == 1
