"""Roster import and export: all or nothing, every bad row listed, updates in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import func, select

from handlers.roster import RosterError, export_roster, import_roster
from storage.models import Account, Member
from tests.conftest import ROSTER


async def people(app) -> dict[str, tuple[str, str, str]]:
    async with app.db.read() as s:
        rows = (await s.exec(select(Member))).all()
    return {m.phone: (m.name, m.status, m.role) for m in rows}


def csv_file(tmp_path: Path, text: str, name: str = "r.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


async def test_bad_rows_import_nothing_and_are_all_listed(app, tmp_path, clock):
    before = await people(app)
    text = (
        "姓名,支部,身份,角色,手机,企业微信账号,钉钉账号\n"
        "好人,县第一中学党支部,党员,成员,13900000099,,\n"
        ",县第一中学党支部,党员,成员,13900000098,,\n"
        "甲,县第一中学党支部,团员,成员,13900000097,,\n"
        "乙,县第一中学党支部,党员,校长,1390000,,\n"
        "丙,县第一中学党支部,党员,成员,13900000099,,\n"
        "丁,,党员,成员,13900000096,u1,\n"
        "戊,县第一中学党支部,党员,成员,13900000095,u1,\n"
    )
    with pytest.raises(RosterError) as err:
        await import_roster(app.db, csv_file(tmp_path, text), clock.now())
    assert err.value.problems == [
        "第 3 行：姓名为空",
        "第 4 行：身份“团员”应为 党员、预备党员 或 群众",
        "第 5 行：角色“校长”应为 成员、书记 或 管理员；"
        "手机“1390000”应为 11 位手机号（读到 7 位数字：1390000）",
        "第 6 行：手机与第 2 行重复",
        "第 7 行：支部为空",
        "第 8 行：企业微信账号“u1”与第 7 行重复",
    ]
    assert await people(app) == before


async def test_missing_columns_are_named(app, tmp_path, clock):
    with pytest.raises(RosterError, match="缺少列：身份、手机"):
        await import_roster(app.db, csv_file(tmp_path, "姓名,支部\n张三,一中\n"), clock.now())


async def test_reimport_updates_in_place_without_duplicates(app, tmp_path, clock):
    changed = ROSTER.replace(
        "王党员,县教育局机关党支部,党员,成员", "王党员,县教育局机关党支部,党员,书记"
    )
    result = await import_roster(app.db, csv_file(tmp_path, changed), clock.now())
    assert (result.added, result.updated, result.unchanged) == (0, 1, 7)
    assert (await people(app))["13800000003"] == ("王党员", "党员", "书记")
    async with app.db.read() as s:
        assert (await s.exec(select(func.count()).select_from(Member))).one() == 8
        assert (await s.exec(select(func.count()).select_from(Account))).one() == 9


async def test_reimport_moves_an_account_to_its_new_owner(app, tmp_path, clock):
    text = (
        "姓名,支部,身份,角色,手机,企业微信账号\n"
        "新同志,县第一中学党支部,党员,成员,13900000019,wang\n"
    )
    await import_roster(app.db, csv_file(tmp_path, text), clock.now())
    async with app.db.read() as s:
        acc = (await s.exec(select(Account).where(Account.external_id == "wang"))).one()
        owner = await s.get(Member, acc.member_id)
    assert owner is not None and owner.name == "新同志"


async def test_gbk_csv_from_excel(app, tmp_path, clock):
    text = "姓名,支部,身份,角色,手机\r\n赵六,县第一中学党支部,预备党员,,13900000055\r\n"
    path = csv_file(tmp_path, text, encoding="gb18030")
    result = await import_roster(app.db, path, clock.now())
    assert result.added == 1
    assert (await people(app))["13900000055"] == ("赵六", "预备党员", "成员")


async def test_xlsx_import_with_numeric_phone(app, tmp_path, clock):
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "支部", "身份", "角色", "手机", "企业微信账号", "钉钉账号"])
    ws.append(["钱七", "县实验小学党支部", "党员", "书记", 13700000077, "qianqi", None])
    path = tmp_path / "r.xlsx"
    wb.save(path)
    await import_roster(app.db, path, clock.now())
    assert (await people(app))["13700000077"] == ("钱七", "党员", "书记")


async def test_export_round_trips_xlsx_and_csv(app, tmp_path, clock):
    xlsx, csv_path = tmp_path / "out.xlsx", tmp_path / "out.csv"
    assert await export_roster(app.db, xlsx) == 8
    assert await export_roster(app.db, csv_path) == 8
    ws = load_workbook(xlsx).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == (
        "姓名", "支部", "身份", "角色", "手机", "企业微信账号", "钉钉账号", "党小组", "支委"
    )
    chen = ("陈书记", "县第一中学党支部", "党员", "书记", "13900000011", "chen", "chen-dt")
    assert (*chen, None, None) in rows  # no 党小组, not on the committee: empty cells
    wang = ("王党员", "县教育局机关党支部", "党员", "成员", "13800000003", "wang", None)
    assert (*wang, "第二党小组", "组织委员") in rows
    assert ws.freeze_panes == "A2"
    # Importing the export changes nothing.
    for path in (xlsx, csv_path):
        result = await import_roster(app.db, path, clock.now())
        assert (result.added, result.updated, result.unchanged) == (0, 0, 8)


async def test_unsupported_file_type(app, tmp_path, clock):
    path = tmp_path / "r.txt"
    path.write_text("x")
    with pytest.raises(RosterError, match="只支持"):
        await import_roster(app.db, path, clock.now())


async def committee_and_groups(app) -> dict[str, tuple[str, str]]:
    async with app.db.read() as s:
        rows = (await s.exec(select(Member))).all()
    return {m.name: (m.party_group, m.committee) for m in rows}


async def test_party_group_and_committee_columns(app, tmp_path, clock):
    # The test roster has them: 机关 has a committee and two 党小组, 一中 neither.
    found = await committee_and_groups(app)
    assert found["李书记"] == ("第一党小组", "书记")
    assert found["王党员"] == ("第二党小组", "组织委员")
    assert found["孙预备"] == ("第二党小组", "")
    assert found["陈书记"] == ("", "")
    text = (
        "姓名,支部,身份,角色,手机,党小组,支委\n"
        "王党员,县教育局机关党支部,党员,成员,13800000003,第一党小组,是\n"
        "孙预备,县教育局机关党支部,预备党员,成员,13800000005,第二党小组,否\n"
        "新同志,县第一中学党支部,党员,成员,13900000019,,纪检委员\n"
    )
    result = await import_roster(app.db, csv_file(tmp_path, text), clock.now())
    assert (result.added, result.updated, result.unchanged) == (0, 2, 1)
    found = await committee_and_groups(app)
    assert found["王党员"] == ("第一党小组", "委员")  # 是: a member of the committee
    assert found["新同志"] == ("", "纪检委员")


async def test_roster_without_the_columns_keeps_groups_and_committee(app, tmp_path, clock):
    text = (
        "姓名,支部,身份,角色,手机,企业微信账号\n"
        "王党员,县教育局机关党支部,党员,成员,13800000003,wang\n"
    )
    result = await import_roster(app.db, csv_file(tmp_path, text), clock.now())
    assert (result.added, result.updated, result.unchanged) == (0, 0, 1)
    assert (await committee_and_groups(app))["王党员"] == ("第二党小组", "组织委员")


async def test_bad_committee_values_are_listed_and_nothing_imported(app, tmp_path, clock):
    before = await committee_and_groups(app)
    text = (
        "姓名,支部,身份,角色,手机,党小组,支委\n"
        "甲,县第一中学党支部,党员,成员,13900000091,,组长\n"
        "乙,县第一中学党支部,群众,成员,13900000092,,是\n"
        "丙,县第一中学党支部,预备党员,成员,13900000093,,宣传委员\n"
        f"丁,县第一中学党支部,党员,成员,13900000094,{'组' * 51},\n"
        "戊,县第一中学党支部,党员,成员,13900000095,第一党小组,副书记\n"
    )
    with pytest.raises(RosterError) as err:
        await import_roster(app.db, csv_file(tmp_path, text), clock.now())
    assert err.value.problems == [
        "第 2 行：支委“组长”应为 是、否 或职务（如 组织委员）",
        "第 3 行：群众不能任支委",
        "第 4 行：预备党员不能任支委",
        "第 5 行：党小组名过长",
    ]
    assert await committee_and_groups(app) == before


async def test_demo_roster_has_a_committee_and_two_party_groups(tmp_path):
    from bot.demo import _roster_file
    from handlers.roster import parse_rows, read_table

    rows = parse_rows(read_table(_roster_file()))
    school = [r for r in rows if r.branch == "县第一中学党支部"]
    assert {r.party_group for r in school} == {"第一党小组", "第二党小组", ""}
    assert sorted(r.committee or "" for r in school if r.committee) == [
        "书记", "宣传委员", "组织委员"
    ]
