"""The roster: members from and to .xlsx or .csv, all or nothing, updated in place."""

from __future__ import annotations

import csv
import difflib
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, members
from storage.engine import Database
from storage.models import Member, MemberChange, Role, Status

COLUMNS = ["姓名", "支部", "身份", "角色", "手机", "企业微信账号", "钉钉账号", "党小组", "支委"]
REQUIRED = ["姓名", "支部", "身份", "手机"]
# Optional: a roster without them imports as before and leaves those fields as they were.
GROUP_COLUMNS = ("党小组", "支委")
COMMITTEE_YES, COMMITTEE_NO = ("是", "委员"), ("否", "")
# A 职务 on the committee: 书记, 副书记, 组织委员, 宣传委员, 纪检委员, 青年委员 ...
_POST = re.compile(r"\S{0,8}(书记|委员)")
ACCOUNT_COLUMNS = {"企业微信账号": "wecom", "钉钉账号": "dingtalk"}
_PHONE = re.compile(r"1\d{10}")
# Wordings seen in real rosters (组织部 forms, HR exports) for the values we store.
STATUS_ALIASES = {
    "中共党员": Status.MEMBER,
    "正式党员": Status.MEMBER,
    "中共正式党员": Status.MEMBER,
    "中共预备党员": Status.PROBATIONARY,
}
ROLE_ALIASES = {
    "支部书记": Role.SECRETARY,
    "党支部书记": Role.SECRETARY,
    "普通成员": Role.MEMBER,
    "党员": Role.MEMBER,
    "系统管理员": Role.ADMIN,
}
# How far down a title and notes above the header may reach.
_HEADER_SEARCH_ROWS = 10


class RosterError(Exception):
    """The file cannot be imported; `problems` lists each bad row by number and reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RosterRow:
    line: int
    name: str
    branch: str
    status: Status
    role: Role
    phone: str
    accounts: dict[str, str]
    party_group: str | None = None  # None: the file has no 党小组 column
    committee: str | None = None  # None: no 支委 column; "" not on the committee


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores phone numbers typed as numbers as floats
    return str(value).strip()


def read_table(path: Path) -> list[list[str]]:
    """Rows of cells as text, header first, from .xlsx or .csv (UTF-8, with or without BOM)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise RosterError([f"无法打开 Excel 文件：{type(exc).__name__}"]) from None
        sheets = [
            [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
            for ws in wb.worksheets
        ]
        wb.close()
        # An instructions sheet may come first: take the first sheet that has the header.
        for rows in sheets:
            if _header_index(rows) is not None:
                return rows
        return sheets[0] if sheets else []
    if suffix == ".csv":
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves GB18030
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise RosterError(["CSV 文件编码无法识别，请另存为 UTF-8"])
        return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]
    raise RosterError([f"只支持 .xlsx 和 .csv 文件：{path.name}"])


def _header_index(table: list[list[str]]) -> int | None:
    """The row holding the column names: a title row or notes may stand above it."""
    for i, cells in enumerate(table[:_HEADER_SEARCH_ROWS]):
        names = {c.strip() for c in cells}
        if "姓名" in names and "手机" in names:
            return i
    return None


def normalize_phone(text: str) -> str:
    """Digits of a mainland mobile number: full-width digits, +86/86-, spaces, dashes dropped."""
    plain = unicodedata.normalize("NFKC", text)  # full-width ０-９ and ＋ become ASCII
    plain = re.sub(r"[\s\-()（）.]", "", plain)
    for prefix in ("+86", "0086", "86"):
        if plain.startswith(prefix) and len(plain) == len(prefix) + 11:
            return plain[len(prefix) :]
    return plain


def _phone_problem(raw: str, digits: str) -> str:
    """Say what was read, so a stray character or a missing digit is easy to spot."""
    if not raw:
        return "手机为空，应为 11 位手机号"
    found = re.sub(r"\D", "", digits)
    if not found:
        return f"手机“{raw}”应为 11 位手机号（其中没有数字）"
    if len(found) == 11 and found == digits:
        return f"手机“{raw}”应为 11 位手机号（须以 1 开头）"
    return f"手机“{raw}”应为 11 位手机号（读到 {len(found)} 位数字：{found}）"


def parse_rows(table: list[list[str]]) -> list[RosterRow]:
    """Validate every row; raise RosterError listing all the bad ones."""
    if not any(any(cells) for cells in table):
        raise RosterError(["文件是空的"])
    start = _header_index(table)
    if start is None:
        start = next(i for i, cells in enumerate(table) if any(cells))
    header = [h.strip() for h in table[start]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        optional = "、".join(c for c in COLUMNS if c not in REQUIRED)
        raise RosterError(
            [
                f"第 {start + 1} 行缺少列：{'、'.join(missing)}"
                f"（须有 {'、'.join(REQUIRED)}，可有 {optional}）"
            ]
        )
    idx = {name: header.index(name) for name in COLUMNS if name in header}
    problems: list[str] = []
    rows: list[RosterRow] = []
    seen_phone: dict[str, int] = {}
    seen_account: dict[tuple[str, str], int] = {}
    for line, cells in enumerate(table[start + 1 :], start=start + 2):
        if not any(cells):
            continue

        def get(col: str, cells: list[str] = cells) -> str:
            i = idx.get(col)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        errs: list[str] = []
        name, branch = get("姓名"), get("支部")
        if not name:
            errs.append("姓名为空")
        elif len(name) > 50:
            errs.append("姓名过长")
        if not branch:
            errs.append("支部为空")
        elif len(branch) > 100:
            errs.append("支部名过长")
        status_text = get("身份")
        try:
            status = STATUS_ALIASES.get(status_text) or Status(status_text)
        except ValueError:
            errs.append(f"身份“{status_text}”应为 党员、预备党员 或 群众")
            status = Status.MASSES
        role_text = get("角色") or Role.MEMBER.value
        try:
            role = ROLE_ALIASES.get(role_text) or Role(role_text)
        except ValueError:
            errs.append(f"角色“{role_text}”应为 成员、书记 或 管理员")
            role = Role.MEMBER
        phone = normalize_phone(get("手机"))
        if not _PHONE.fullmatch(phone):
            errs.append(_phone_problem(get("手机"), phone))
        elif phone in seen_phone:
            errs.append(f"手机与第 {seen_phone[phone]} 行重复")
        else:
            seen_phone[phone] = line
        accounts: dict[str, str] = {}
        for col, platform in ACCOUNT_COLUMNS.items():
            value = get(col)
            if not value:
                continue
            if len(value) > 128:
                errs.append(f"{col}过长")
            elif (platform, value) in seen_account:
                errs.append(f"{col}“{value}”与第 {seen_account[(platform, value)]} 行重复")
            else:
                seen_account[(platform, value)] = line
                accounts[platform] = value
        party_group = committee = None
        if "党小组" in idx:
            party_group = get("党小组")
            if len(party_group) > 50:
                errs.append("党小组名过长")
        if "支委" in idx:
            committee = _committee(get("支委"), status, errs)
        if errs:
            problems.append(f"第 {line} 行：{'；'.join(errs)}")
        else:
            rows.append(
                RosterRow(line, name, branch, status, role, phone, accounts, party_group, committee)
            )
    if problems:
        raise RosterError(problems)
    if not rows:
        raise RosterError(["文件中没有人员"])
    return rows


def _committee(text: str, status: Status, errs: list[str]) -> str:
    """支委 as stored: "" (not on the committee), "委员" for 是, or the 职务 as written."""
    if text in COMMITTEE_NO:
        return ""
    post = "委员" if text in COMMITTEE_YES else text
    if not _POST.fullmatch(post):
        errs.append(f"支委“{text[:20]}”应为 是、否 或职务（如 组织委员）")
    elif status is not Status.MEMBER:
        # 预备党员 have no right to stand for election (党章第七条), 群众 none at all.
        errs.append(f"{status.value}不能任支委")
    return post


@dataclass(frozen=True)
class ImportOptions:
    """How strict an import is. The defaults suit programmatic callers (demo, tests); the
    operator's `roster import` passes the strict ones and previews first."""

    rename: bool = True  # a known phone under another name renames that person
    new_branches: frozenset[str] | None = None  # None: any unknown branch is created
    full: bool = False  # everyone missing from the file leaves
    actor: str = "程序"
    source: str = ""


@dataclass(frozen=True)
class Change:
    """What the import does to one person; `fields` are (列, 旧值, 新值)."""

    action: str  # 新增 更新 重新加入 离开 不在名单中
    name: str
    phone: str
    fields: tuple[tuple[str, str, str], ...] = ()

    def line(self) -> str:
        who = f"{self.action} {self.name}（{self.phone}）"
        if self.action == "离开":
            return f"{who}：不在名单中，标记为离开并解除账号绑定"
        if self.action == "不在名单中":
            return f"{who}：保持不变（加 --full 则标记为离开）"
        if self.action == "新增":
            shown = [new for col, _, new in self.fields if new and col != "姓名"]
            return f"{who}：{'，'.join(shown)}"
        parts = [f"{col} {old or '（空）'} → {new or '（空）'}" for col, old, new in self.fields]
        return f"{who}：{'；'.join(parts)}" if parts else who


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    left: int = 0
    reactivated: int = 0
    new_branches: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()

    def preview(self) -> list[str]:
        """One line per new branch and per person changed, for the operator to check."""
        lines = [f"新建支部：{name}" for name in self.new_branches]
        lines += [c.line() for c in self.changes]
        return lines

    def summary(self) -> str:
        text = f"新增 {self.added} 人，更新 {self.updated} 人，未变 {self.unchanged} 人"
        if self.reactivated:
            text += f"，重新加入 {self.reactivated} 人"
        if self.left:
            text += f"，离开 {self.left} 人"
        return text


@dataclass
class _Plan:
    rows: list[RosterRow]
    result: ImportResult
    # Per row: the existing member, or None for a new one.
    existing: list[Member | None]


_FIELD_LABELS = (
    ("name", "姓名"),
    ("branch", "支部"),
    ("status", "身份"),
    ("role", "角色"),
    ("party_group", "党小组"),
    ("committee", "支委"),
)
_ACCOUNT_LABELS = {platform: col for col, platform in ACCOUNT_COLUMNS.items()}


async def _plan(s: AsyncSession, rows: list[RosterRow], opts: ImportOptions) -> _Plan:
    """Compare the file with the database without changing anything; refuse clashes."""
    branch_names = {b.id: b.name for b in await members.all_branches(s)}
    people = await members.all_members(s)
    accounts = await members.all_accounts(s)
    by_phone = {m.phone: m for m, _ in people}
    problems: list[str] = []
    new_branches: dict[str, list[int]] = {}
    for r in rows:
        if r.branch not in branch_names.values():
            new_branches.setdefault(r.branch, []).append(r.line)
    if branch_names and opts.new_branches is not None:
        known = sorted(branch_names.values())
        for name, lines in new_branches.items():
            if name in opts.new_branches:
                continue
            where = "、".join(str(n) for n in lines[:5]) + ("等" if len(lines) > 5 else "")
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"你是不是要写：{'、'.join(close)}？" if close else ""
            problems.append(
                f"第 {where} 行：支部“{name}”不存在。{hint}如确为新支部，请加 --new-branch {name}"
            )
    changes: list[Change] = []
    existing: list[Member | None] = []
    added = updated = unchanged = reactivated = 0
    for r in rows:
        m = by_phone.get(r.phone)
        existing.append(m)
        new = {
            "name": r.name,
            "branch": r.branch,
            "status": r.status.value,
            "role": r.role.value,
            "party_group": r.party_group,
            "committee": r.committee,
        }
        if m is None:
            shown = [(label, "", v) for key, label in _FIELD_LABELS if (v := new[key] or "")]
            changes.append(Change("新增", r.name, r.phone, tuple(shown)))
            added += 1
            continue
        assert m.id is not None
        if m.name != r.name and not opts.rename:
            problems.append(
                f"第 {r.line} 行：手机 {r.phone} 已属于“{m.name}”，此行姓名为“{r.name}”。"
                "如确为同一人改名，请加 --rename；否则请核对手机号"
            )
            continue
        old = {
            "name": m.name,
            "branch": branch_names.get(m.branch_id, ""),
            "status": m.status,
            "role": m.role,
            "party_group": m.party_group,
            "committee": m.committee,
        }
        fields = [
            (label, old[key], new[key] or "")
            for key, label in _FIELD_LABELS
            if new[key] is not None and old[key] != new[key]
        ]
        for platform, external_id in r.accounts.items():
            had = accounts.get((m.id, platform), "")
            if had != external_id:
                fields.append((_ACCOUNT_LABELS[platform], had, external_id))
        if not m.active:
            changes.append(Change("重新加入", r.name, r.phone, tuple(fields)))
            reactivated += 1
        elif fields:
            changes.append(Change("更新", r.name, r.phone, tuple(fields)))
            updated += 1
        else:
            unchanged += 1
    in_file = {r.phone for r in rows}
    left = 0
    for m, _ in people:
        if m.active and m.phone not in in_file:
            changes.append(Change("离开" if opts.full else "不在名单中", m.name, m.phone))
            left += opts.full
    if problems:
        raise RosterError(problems)
    result = ImportResult(
        added, updated, unchanged, left, reactivated, tuple(new_branches), tuple(changes)
    )
    return _Plan(rows, result, existing)


async def _apply(s: AsyncSession, plan: _Plan, opts: ImportOptions, now: datetime) -> None:
    audit_rows: list[MemberChange] = []
    by_phone = {c.phone: c for c in plan.result.changes}

    def note(m: Member, change: Change) -> None:
        assert m.id is not None
        detail = "\n".join(
            f"{col}：{old or '（空）'} → {new or '（空）'}" for col, old, new in change.fields
        )
        action = change.action
        if action == "更新" and any(col == "姓名" for col, _, _ in change.fields):
            action = "改名"  # the rarest and riskiest update: easy to find in the history
        audit_rows.append(
            MemberChange(
                member_id=m.id,
                phone=m.phone,
                name=m.name,
                action=action,
                detail=detail,
                actor=opts.actor[:100],
                source=opts.source[:200],
                at=now,
            )
        )

    for r, m in zip(plan.rows, plan.existing, strict=True):
        branch = await members.get_or_create_branch(s, r.branch)
        assert branch.id is not None
        fields: dict[str, object] = {
            "name": r.name,
            "branch_id": branch.id,
            "status": r.status.value,
            "role": r.role.value,
            "active": True,
        }
        if r.party_group is not None:
            fields["party_group"] = r.party_group
        if r.committee is not None:
            fields["committee"] = r.committee
        change = by_phone.get(r.phone)
        if m is None:
            m = Member(phone=r.phone, created_at=now, updated_at=now, **fields)
            s.add(m)
        elif change is not None:
            for k, v in fields.items():
                setattr(m, k, v)
            m.updated_at = now
        await s.flush()
        assert m.id is not None
        for platform, external_id in r.accounts.items():
            await members.set_account(s, platform, external_id, m.id)
        if change is not None:
            note(m, change)
    if opts.full:
        leaving = {c.phone for c in plan.result.changes if c.action == "离开"}
        for m, _ in await members.all_members(s):
            if m.phone in leaving:
                assert m.id is not None
                m.active = False
                m.updated_at = now
                await audit.unbind_all(s, m.id)
                note(m, by_phone[m.phone])
    await s.flush()
    await audit.record(s, audit_rows)


async def import_roster(
    db: Database,
    path: Path,
    now: datetime,
    options: ImportOptions | None = None,
    *,
    apply: bool = True,
) -> ImportResult:
    """Import the file in one transaction: every row, or none when any row is bad.

    With apply=False nothing is written (a read-only snapshot): the result is the preview.
    """
    opts = options or ImportOptions(source=path.name)
    rows = parse_rows(read_table(path))
    if not apply:
        async with db.read() as s:
            return (await _plan(s, rows, opts)).result
    async with db.write() as s:
        plan = await _plan(s, rows, opts)
        await _apply(s, plan, opts, now)
    return plan.result


async def export_roster(db: Database, path: Path) -> int:
    """Write every member to .xlsx or .csv with the import columns; return the count."""
    async with db.read() as s:
        people = await members.all_members(s)
        accounts = await members.all_accounts(s)
    rows: list[list[str]] = []
    for m, b in people:
        assert m.id is not None
        rows.append(
            [
                m.name,
                b.name,
                m.status,
                m.role,
                m.phone,
                accounts.get((m.id, "wecom"), ""),
                accounts.get((m.id, "dingtalk"), ""),
                m.party_group,
                m.committee,
            ]
        )
    if path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
    elif path.suffix.lower() == ".xlsx":
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "花名册"
        ws.append(COLUMNS)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
        widths = (10, 24, 10, 8, 14, 16, 16, 12, 10)
        for col, width in zip("ABCDEFGHI", widths, strict=True):
            ws.column_dimensions[col].width = width
        for row in ws.iter_rows(min_row=2, min_col=5, max_col=5):
            row[0].number_format = "@"  # phone numbers stay text
        ws.freeze_panes = "A2"
        wb.save(path)
    else:
        raise RosterError([f"只支持 .xlsx 和 .csv 文件：{path.name}"])
    return len(rows)
