"""Roster wordings and layouts seen in the field: 中共党员, 支部书记, +86, full-width digits,
a title row above the header, an instructions sheet before the data sheet."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from handlers.roster import RosterError, normalize_phone, parse_rows, read_table
from storage.models import Role, Status

HEADER = ["姓名", "支部", "身份", "角色", "手机"]


@pytest.mark.parametrize(
    "raw",
    [
        "13912345678",
        "+86 139 1234 5678",
        "86-139-1234-5678",
        "+86-13912345678",
        "１３９１２３４５６７８",
        "＋８６ １３９１２３４５６７８",
        "139-1234-5678",
        "0086 13912345678",
    ],
)
def test_phone_formats_become_eleven_digits(raw: str) -> None:
    assert normalize_phone(raw) == "13912345678"


def test_common_wordings_are_accepted() -> None:
    rows = parse_rows(
        [
            HEADER,
            ["甲", "一支部", "中共党员", "支部书记", "+86 139 0000 0001"],
            ["乙", "一支部", "中共预备党员", "", "１３９００００００02"],
            ["丙", "一支部", "群众", "党支部书记", "86-139-0000-0003"],
        ]
    )
    assert [(r.status, r.role, r.phone) for r in rows] == [
        (Status.MEMBER, Role.SECRETARY, "13900000001"),
        (Status.PROBATIONARY, Role.MEMBER, "13900000002"),
        (Status.MASSES, Role.SECRETARY, "13900000003"),
    ]


def test_a_wrong_phone_says_what_was_found() -> None:
    with pytest.raises(RosterError) as err:
        parse_rows(
            [
                HEADER,
                ["甲", "一", "党员", "", "+86 139 0000 001"],
                ["乙", "一", "党员", "", "23900000001"],
            ]
        )
    assert err.value.problems == [
        "第 2 行：手机“+86 139 0000 001”应为 11 位手机号（读到 12 位数字：861390000001）",
        "第 3 行：手机“23900000001”应为 11 位手机号（须以 1 开头）",
    ]


def test_a_title_row_above_the_header_is_skipped() -> None:
    rows = parse_rows(
        [
            ["县教育局党员花名册", "", "", "", ""],
            ["", "", "", "", ""],
            HEADER,
            ["甲", "一支部", "党员", "", "13900000001"],
        ]
    )
    assert [(r.line, r.name) for r in rows] == [(4, "甲")]


def test_missing_columns_name_the_header_row() -> None:
    with pytest.raises(RosterError, match="第 2 行缺少列：身份"):
        parse_rows([["标题"], ["姓名", "支部", "手机"], ["甲", "一", "13900000001"]])


def test_the_sheet_holding_the_header_is_read(tmp_path: Path) -> None:
    wb = Workbook()
    notes = wb.active
    assert notes is not None
    notes.title = "填写说明"
    notes.append(["请按下表填写，身份填 党员、预备党员 或 群众"])
    data = wb.create_sheet("花名册")
    data.append(["2026 年党员花名册"])
    data.append(HEADER)
    data.append(["甲", "一支部", "中共党员", "支部书记", 13900000001])
    path = tmp_path / "r.xlsx"
    wb.save(path)
    rows = parse_rows(read_table(path))
    assert [(r.line, r.name, r.role, r.phone) for r in rows] == [
        (3, "甲", Role.SECRETARY, "13900000001")
    ]
