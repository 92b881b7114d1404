"""Roster import that shows before it changes: preview, name clashes, unknown branches,
--full leaving, reactivation, and the history of every change."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from handlers.roster import ImportOptions, RosterError, import_roster
from storage import audit
from storage.models import Account, Branch, Member
from tests.conftest import BUREAU, ROSTER, SCHOOL

STRICT = ImportOptions(rename=False, new_branches=frozenset(), source="r.csv", actor="测试")


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    return path


async def snapshot(app) -> tuple[list, list, list]:
    async with app.db.read() as s:
        members = [m.model_dump() for m in (await s.exec(select(Member))).all()]
        accounts = [a.model_dump() for a in (await s.exec(select(Account))).all()]
        branches = [b.model_dump() for b in (await s.exec(select(Branch))).all()]
    return members, accounts, branches


async def test_preview_lists_each_change_and_changes_nothing(app, tmp_path, clock):
    text = (
        ROSTER.replace(
            "王党员,县教育局机关党支部,党员,成员", "王党员,县教育局机关党支部,党员,书记"
        ).replace("新同志,县第一中学党支部,党员,成员,13900000019,,,,\n", "")
        + "赵新人,县第一中学党支部,中共预备党员,,13900000077,,,,\n"
    )
    before = await snapshot(app)
    result = await import_roster(app.db, csv_file(tmp_path, text), clock.now(), STRICT, apply=False)
    assert result.preview() == [
        "更新 王党员（13800000003）：角色 成员 → 书记",
        "新增 赵新人（13900000077）：县第一中学党支部，预备党员，成员",
        "不在名单中 新同志（13900000019）：保持不变（加 --full 则标记为离开）",
    ]
    assert await snapshot(app) == before


async def test_phone_under_another_name_is_refused_naming_both(app, tmp_path, clock):
    text = ROSTER.replace("李书记,县教育局机关党支部", "张冒名,县第一中学党支部")
    before = await snapshot(app)
    with pytest.raises(RosterError) as err:
        await import_roster(app.db, csv_file(tmp_path, text), clock.now(), STRICT)
    assert err.value.problems == [
        "第 3 行：手机 13800000002 已属于“李书记”，此行姓名为“张冒名”。"
        "如确为同一人改名，请加 --rename；否则请核对手机号"
    ]
    assert await snapshot(app) == before
    # --rename: the same person under a new name, kept in the history as 改名.
    opts = ImportOptions(rename=True, new_branches=frozenset(), source="r.csv", actor="测试")
    await import_roster(app.db, csv_file(tmp_path, text), clock.now(), opts)
    async with app.db.read() as s:
        changes = await audit.history(s, "13800000002")
    assert [(c.action, c.name, c.source, c.actor) for c in changes] == [
        ("新增", "李书记", "roster.csv", "程序"),
        ("改名", "张冒名", "r.csv", "测试"),
    ]
    assert changes[1].detail.splitlines()[:2] == [
        "姓名：李书记 → 张冒名",
        f"支部：{BUREAU} → {SCHOOL}",
    ]


async def test_a_misspelt_branch_is_refused_with_a_suggestion(app, tmp_path, clock):
    text = ROSTER + "吴新,县第一中学党支布,党员,,13900000088,,,,\n"
    before = await snapshot(app)
    with pytest.raises(RosterError) as err:
        await import_roster(app.db, csv_file(tmp_path, text), clock.now(), STRICT)
    assert err.value.problems == [
        "第 10 行：支部“县第一中学党支布”不存在。你是不是要写：县第一中学党支部？"
        "如确为新支部，请加 --new-branch 县第一中学党支布"
    ]
    assert await snapshot(app) == before
    text = ROSTER + "吴新,县第二中学党支部,党员,,13900000088,,,,\n"
    opts = ImportOptions(new_branches=frozenset({"县第二中学党支部"}))
    result = await import_roster(app.db, csv_file(tmp_path, text), clock.now(), opts)
    assert result.new_branches == ("县第二中学党支部",)
    assert result.preview()[0] == "新建支部：县第二中学党支部"


async def test_first_import_into_an_empty_database_creates_its_branches(tmp_path, clock):
    from storage.engine import Database
    from storage.migrate import upgrade

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        await upgrade(db)
        path = csv_file(tmp_path, ROSTER)
        result = await import_roster(db, path, clock.now(), STRICT, apply=False)
        assert result.preview()[:2] == [f"新建支部：{BUREAU}", f"新建支部：{SCHOOL}"]
        assert result.added == 8
        result = await import_roster(db, path, clock.now(), STRICT)
        assert result.added == 8
        async with db.read() as s:
            assert len((await s.exec(select(Member))).all()) == 8
    finally:
        await db.dispose()


async def test_full_makes_missing_people_leave_and_readding_brings_them_back(app, tmp_path, clock):
    text = ROSTER.replace("刘老师,县第一中学党支部,党员,成员,13900000012,liu,liu-dt,,\n", "")
    opts = ImportOptions(rename=False, new_branches=frozenset(), full=True, source="r.csv")
    result = await import_roster(app.db, csv_file(tmp_path, text), clock.now(), opts)
    assert result.left == 1
    assert result.preview() == ["离开 刘老师（13900000012）：不在名单中，标记为离开并解除账号绑定"]
    async with app.db.read() as s:
        liu = (await s.exec(select(Member).where(Member.phone == "13900000012"))).one()
        bound = (await s.exec(select(Account).where(Account.member_id == liu.id))).all()
    assert liu.active is False and bound == []  # kept, no longer expected, unbound

    # Back in the file: the same row reactivates them, accounts bound again.
    result = await import_roster(app.db, csv_file(tmp_path, ROSTER), clock.now(), opts)
    assert (result.reactivated, result.left) == (1, 0)
    assert result.preview() == [
        "重新加入 刘老师（13900000012）：企业微信账号 （空） → liu；钉钉账号 （空） → liu-dt"
    ]
    async with app.db.read() as s:
        liu = (await s.exec(select(Member).where(Member.phone == "13900000012"))).one()
        changes = await audit.history(s, "13900000012")
    assert liu.active is True and liu.id is not None
    assert [c.action for c in changes] == ["新增", "离开", "重新加入"]
