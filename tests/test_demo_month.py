"""One whole month of a branch, typed into `qingfeng demo`, every figure checked by hand.

The branch is the demo's 县教育局机关党支部 (bot/demo_roster.csv), which has daily check-in:

    周建国  党员     管理员  第一党小组
    李卫东  党员     书记    第一党小组  支委（书记）
    王晓梅  党员     成员    第一党小组  支委（组织委员）
    赵志强  党员     成员    第二党小组  支委（纪检委员）
    孙丽华  预备党员 成员    第二党小组
    钱进    群众     成员
    吴海燕  党员     成员    第二党小组  （未绑定，12月7日自己绑定）
    刘洋    党员     成员    第一党小组  （12月14日 10:00 由 /roster 入册）

The demo starts on 2026-11-30 17:00, so everyone but 刘洋 is on the roster all December.
December 2026 has 23 working days and no holiday (checked against the calendar below):
    1 2 3 4 | 7 8 9 10 11 | 14 15 16 17 18 | 21 22 23 24 25 | 28 29 30 31
so a member on the roster all month owes 23 × 2 = 46 check-in slots (上班, 下班).

The rules (issue 16, README 规则): a slot is owed once it has closed (上班 09:30, 下班
20:00) and only if it closed after the member joined; 上班 after 08:30 is 迟到 (下班 has no
迟到). A meeting expects the 党员 and 预备党员 on the roster at its start (支委会 the
committee, 党小组会 its group; 群众 never); cancelled meetings count nowhere. A study task
counts in the month of its due date (no due date: its publish date), for 党员 and 预备党员
on the roster by the end of that date, everyone for 全体.
"""

from __future__ import annotations

import io
import re
import subprocess
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.demo import run_demo
from schedules.holidays import HolidayCalendar
from tests.test_cli import run

BRANCH = "县教育局机关党支部"
GROUP_CHAT = f"[{BRANCH}群]"

WORKDAYS = [
    date(2026, 12, d)
    for d in (1, 2, 3, 4, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 21, 22, 23, 24, 25, 28, 29, 30, 31)
]

NEWCOMER_CSV = """姓名,支部,身份,角色,手机,企业微信账号,钉钉账号,党小组,支委
刘洋,县教育局机关党支部,党员,成员,13800000008,,,第一党小组,否
"""


class Script:
    """Lines for the demo, from (time, speaker, message) steps given in any order."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, int, str, str]] = []

    def say(self, when: str, who: str, *texts: str) -> None:
        for text in texts:
            self._steps.append((when, len(self._steps), who, text))

    def lines(self) -> list[str]:
        out: list[str] = []
        clock = speaker = ""
        for when, _, who, text in sorted(self._steps):
            if when != clock:
                out.append(f"/time {when}")
                clock = when
            if who and who != speaker:
                out.append(f"/as {who}")
                speaker = who
            out.append(text)
        return out


def day(n: int, hm: str) -> str:
    """A December moment as /time takes it."""
    return f"2026-12-{n:02d} {hm}"


def month_script() -> Script:
    sc = Script()

    # ---- daily check-in: who checks in when ----------------------------------------------
    # 上班 at 08:10 is on time, at 08:45 迟到; 下班 at 17:30.
    for d in WORKDAYS:
        n = d.day
        morning_late: list[str] = []
        morning = ["李卫东", "周建国"]  # 周建国 never checks out: 缺 23
        evening = ["李卫东"]
        # 王晓梅: both slots every day, 上班 late on 7th and 21st.
        (morning_late if n in (7, 21) else morning).append("王晓梅")
        evening.append("王晓梅")
        # 赵志强: both slots, except the 8th and 9th (下乡检查): 缺 4.
        if n not in (8, 9):
            morning.append("赵志强")
            evening.append("赵志强")
        # 孙丽华: both slots every day, 上班 late the first week (1st to 4th).
        (morning_late if n <= 4 else morning).append("孙丽华")
        evening.append("孙丽华")
        # 钱进 (群众, owes check-in like everyone): both slots up to the 11th only.
        if n <= 11:
            morning.append("钱进")
            evening.append("钱进")
        # 吴海燕: unbound until she binds on the 7th; from then both slots, late on the 31st.
        if n >= 7:
            (morning_late if n == 31 else morning).append("吴海燕")
            evening.append("吴海燕")
        # 刘洋: joins on the 14th at 10:00; 下班 from the 14th, 上班 from the 15th; forgets
        # 下班 on the 24th.
        if n >= 15:
            morning.append("刘洋")
        if n >= 14 and n != 24:
            evening.append("刘洋")
        for who in morning:
            if who == "吴海燕" and n == 7:
                sc.say(day(n, "08:10"), who, "绑定 吴海燕 0007")
            sc.say(day(n, "08:10"), who, "签到")
        for who in morning_late:
            sc.say(day(n, "08:45"), who, "签到")
        for who in evening:
            sc.say(day(n, "17:30"), who, "签退")
    # Unbound on the 1st: told to bind, nothing recorded.
    sc.say(day(1, "08:10"), "吴海燕", "签到")

    # ---- meetings ----------------------------------------------------------------------
    # The rules planned #1 主题党日 12-04 15:00, #2 支委会 12-08 16:00, #3 党小组会（第一）
    # and #4 党小组会（第二）12-16 16:00.
    sc.say("2026-11-30 17:00", "李卫东", "日程")
    sc.say("2026-11-30 17:05", "孙丽华", "请假 1 到市委党校参加预备党员培训")
    # 安排 of a 主题党日 already planned this month moves #1 (number and leave kept).
    sc.say("2026-11-30 17:10", "李卫东", "安排 主题党日 2026-12-04 16:40 报告厅")

    # #1 主题党日 12-04 16:40: sign-in 16:10–17:40, 迟到 after 16:55.
    sc.say(day(4, "16:35"), "李卫东", "签到")  # 出席
    sc.say(day(4, "16:38"), "王晓梅", "签到")  # 出席
    sc.say(day(4, "16:45"), "钱进", "签到")  # 群众: need not sign in
    sc.say(day(4, "17:00"), "周建国", "签到")  # 迟到 20 分钟
    # 赵志强 never signs in: 缺席. 吴海燕 (still unbound) neither: the secretary enters her
    # leave afterwards.
    sc.say(day(4, "18:00"), "李卫东", "补假 吴海燕 1 在省里参加骨干教师培训")

    # #2 支委会 12-08: 赵志强 asks leave, then the secretary cancels it and arranges a new
    # one on the 22nd: #10, as the planner has by then numbered January's five (#5–#9).
    sc.say(day(7, "10:00"), "赵志强", "请假 2 下乡检查校舍安全")
    sc.say(day(7, "11:00"), "李卫东", "取消 2 书记到县委党校学习")
    sc.say(day(7, "11:05"), "李卫东", "安排 支委会 2026-12-22 16:00 会议室")

    # 刘洋 joins on Monday the 14th at 10:00.
    sc.say(day(14, "10:00"), "", "/roster 新成员.csv")
    sc.say(day(14, "10:05"), "刘洋", "我的")
    # #3 (第一党小组) moves half an hour later, into another room.
    sc.say(day(14, "10:10"), "李卫东", "改期 3 2026-12-16 16:30 党员活动室二", "日程")
    sc.say(day(14, "20:30"), "李卫东", "未签到")
    # Leave without a number: her next meeting is #4 (she is not on the committee).
    sc.say(day(15, "10:00"), "吴海燕", "请假 参加县里的教研活动")

    # 12-16: #4 (第二党小组) 16:00, sign-in 15:30–17:00, 迟到 after 16:15;
    #        #3 (第一党小组) 16:30, sign-in 16:00–17:30, 迟到 after 16:45.
    sc.say(day(16, "15:55"), "赵志强", "签到")  # #4 出席 (only #4 open)
    sc.say(day(16, "16:05"), "孙丽华", "签到")  # both open: #4, hers, 出席
    sc.say(day(16, "16:25"), "李卫东", "签到")  # #3 出席
    sc.say(day(16, "16:28"), "王晓梅", "签到")  # #3 出席
    sc.say(day(16, "16:50"), "刘洋", "签到")  # #3 迟到 20 分钟
    # 周建国 does not come to #3: 缺席.

    # #10 支委会 12-22 16:00: sign-in 15:30–17:00, 迟到 after 16:15.
    sc.say(day(22, "15:50"), "李卫东", "签到")  # 出席
    sc.say(day(22, "16:20"), "王晓梅", "签到")  # 迟到 20 分钟
    sc.say(day(22, "17:10"), "李卫东", "补签 赵志强 10")  # came, phone flat: 出席

    # ---- study -------------------------------------------------------------------------
    # Seeded: #1 二十大报告 due 12-10 (published 11-30 for the whole county, 党员),
    #         #2 纪律处分条例 no due date, published 11-30: November's, not December's.
    sc.say(day(1, "10:00"), "李卫东", "学习 1")
    sc.say(day(2, "10:00"), "王晓梅", "学习 1", "学习 2")
    sc.say(day(3, "10:00"), "钱进", "学习 1")  # 群众: a 党员 task, nothing recorded
    sc.say(day(10, "10:00"), "赵志强", "学习 1")  # on the due date: on time
    sc.say(day(15, "10:05"), "孙丽华", "学习 1")  # after it: 逾期
    # #3 for everyone (全体) due 12-25; #4 due in January: not December's.
    sc.say(day(18, "10:00"), "李卫东", "发布学习 廉洁从教警示教育 截止 2026-12-25 全体", "学习 3")
    sc.say(day(18, "10:10"), "王晓梅", "学习 3")
    sc.say(
        day(21, "10:00"),
        "李卫东",
        "发布学习 《习近平新时代中国特色社会主义思想学习纲要》第一章 截止 2027-01-15",
        "学习 4",
    )
    sc.say(day(21, "10:05"), "钱进", "学习 3")
    sc.say(day(21, "10:10"), "刘洋", "学习 3")
    sc.say(day(22, "10:00"), "赵志强", "学习 3")
    sc.say(day(22, "10:05"), "吴海燕", "学习 3")
    sc.say(day(23, "10:00"), "王晓梅", "学习 4")
    sc.say(day(28, "10:00"), "孙丽华", "学习 3")  # 逾期

    # ---- the month's figures -------------------------------------------------------------
    # Mid-month, while the 16th's 上班 slot is still open (it closes at 09:30).
    sc.say(day(16, "08:15"), "周建国", "我的")
    for who in ("周建国", "李卫东", "王晓梅", "赵志强", "孙丽华", "钱进", "吴海燕", "刘洋"):
        sc.say(day(31, "20:30"), who, "我的")
    sc.say(day(31, "20:30"), "李卫东", "汇总", "导出")
    # The monthly push: the first working day of 2027 is Monday 1-04 (元旦 1-01, weekend).
    sc.say("2027-01-04 09:05", "王晓梅", "我的 上月")
    return sc


# ---- reading the demo's output --------------------------------------------------------


@dataclass(frozen=True)
class Block:
    head: str  # "[县教育局机关党支部群] 王晓梅: 我的", "清风:", "📩 [私信 → 李卫东]", ...
    body: str  # the indented lines under it, unindented


def blocks(out: str) -> list[Block]:
    found: list[Block] = []
    head, body = "", []
    for line in out.splitlines():
        if line.startswith("  "):
            body.append(line[2:])
            continue
        if head:
            found.append(Block(head, "\n".join(body).rstrip("\n")))
        head, body = line, []
    if head:
        found.append(Block(head, "\n".join(body).rstrip("\n")))
    return found


class Transcript:
    def __init__(self, out: str) -> None:
        self.out = out
        self.blocks = blocks(out)
        self.clock = [""] * len(self.blocks)  # the demo clock when each block printed
        now = "2026-11-30 17:00"
        for i, b in enumerate(self.blocks):
            if m := re.fullmatch(r"⏰ (\S+ \S+)|（时钟已拨到 (\S+ \S+)）", b.head):
                now = m[1] or m[2]
            self.clock[i] = now

    def replies(self, who: str, text: str) -> list[str]:
        """The bot's replies to `who` sending `text` in the group, in order."""
        head = f"{GROUP_CHAT} {who}: {text}"
        out = []
        for i, b in enumerate(self.blocks):
            if b.head == head:
                nxt = self.blocks[i + 1]
                assert nxt.head == "清风:", nxt
                out.append(nxt.body)
        assert out, f"no {head!r} in\n{self.out}"
        return out

    def reply(self, who: str, text: str, on: str | None = None) -> str:
        """The reply to the one such message (sent on the day `on`, if given)."""
        head = f"{GROUP_CHAT} {who}: {text}"
        found = [
            self.blocks[i + 1].body
            for i, b in enumerate(self.blocks)
            if b.head == head and (on is None or self.clock[i].startswith(on))
        ]
        assert len(found) == 1, (head, on, found)
        return found[0]

    def pushes(self, target: str, when: str) -> list[str]:
        """What was pushed to `target` (a group or a person) at times starting `when`: a
        minute ("2026-12-04 17:40") or a day ("2026-12-04")."""
        return [
            b.body
            for i, b in enumerate(self.blocks)
            if b.head in (f"📢 [推送 → {target}]", f"📩 [私信 → {target}]")
            and self.clock[i].startswith(when)
        ]


Month = tuple[Transcript, Path]


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    where = tmp_path_factory.mktemp("demo-month")
    (where / "新成员.csv").write_text(NEWCOMER_CSV, encoding="utf-8")
    script = "\n".join(month_script().lines()) + "\n"
    r: subprocess.CompletedProcess[str] = run(
        "demo", "--at", "2026-11-30 17:00", "--db", str(where / "demo.db"),
        cwd=where, stdin=script,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    return Transcript(r.stdout), where


def test_december_has_the_working_days_counted_by_hand() -> None:
    assert HolidayCalendar().workdays(date(2026, 12, 1), date(2026, 12, 31)) == WORKDAYS


# ---- the story, as the members saw it ---------------------------------------------------


def test_meetings_moved_cancelled_and_signed_into_by_number(month: Month) -> None:
    t, _ = month
    planned = t.reply("李卫东", "日程", on="2026-11-30")
    for line in (
        "· #1 12月4日(周五) 15:00 主题党日",
        "· #2 12月8日(周二) 16:00 支委会",
        "· #3 12月16日(周三) 16:00 党小组会（第一党小组）",
        "· #4 12月16日(周三) 16:00 党小组会（第二党小组）",
    ):
        assert line in planned
    assert t.reply("孙丽华", "请假 1 到市委党校参加预备党员培训").startswith(
        "✅ 已登记请假：主题党日 12月4日(周五) 15:00（#1）"
    )
    moved = t.reply("李卫东", "安排 主题党日 2026-12-04 16:40 报告厅")
    assert moved.startswith("✅ 已改期：主题党日 #1")
    assert "时间：12月4日(周五) 15:00 → 12月4日(周五) 16:40" in moved
    assert "已请假 1 人，请假仍有效。" in moved
    # The preview, the day's reminder and the sign-in push name 16:40 only: no push is
    # left for 15:00.
    theme_day = [
        body
        for d in ("2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04")
        for body in t.pushes(f"{BRANCH}群", d)
        if "主题党日" in body
    ]
    assert len(theme_day) == 3, theme_day
    assert all("16:40" in body and "15:00" not in body for body in theme_day)

    assert "记为出席" in t.reply("李卫东", "签到", on="2026-12-04 16:35")
    not_for_masses = t.reply("钱进", "签到", on="2026-12-04 16:45")
    assert not_for_masses == "主题党日是党员的组织生活，您无需签到。"
    assert "迟到 20 分钟，记为迟到。" in t.reply("周建国", "签到", on="2026-12-04 17:00")
    [absentees] = t.pushes("李卫东", "2026-12-04 17:40")
    assert absentees == (
        "📋 主题党日签到结束\n县教育局机关党支部 · 12月4日(周五) 16:40\n"
        "应到 6 人，未签到 2 人：\n赵志强、吴海燕\n"
        "请假 1 人：孙丽华（到市委党校参加预备党员培训）\n"
        "请了解缺席原因，做好谈心提醒（发送“谈心 情况”查看）。"
    )
    made_up = t.reply("李卫东", "补假 吴海燕 1 在省里参加骨干教师培训")
    assert made_up.startswith("✅ 已补假：吴海燕 · 主题党日 #1（12月4日(周五) 16:40）")

    assert "（#2）" in t.reply("赵志强", "请假 2 下乡检查校舍安全")
    cancelled = t.reply("李卫东", "取消 2 书记到县委党校学习")
    assert cancelled.startswith("✅ 已取消：支委会 #2（12月8日(周二) 16:00）")
    assert "已私信告知请过假的：赵志强" in cancelled
    [told] = t.pushes("赵志强", "2026-12-07 11:00")
    assert "支委会 #2（12月8日(周二) 16:00） 已取消" in told
    assert t.reply("李卫东", "安排 支委会 2026-12-22 16:00 会议室").startswith(
        "✅ 已安排：支委会 #10"
    )
    # Nothing more about #2: no reminder, no sign-in, no absentee list.
    assert not [b for b in t.pushes(f"{BRANCH}群", "2026-12-08") if "支委会" in b]
    assert not [b for b in t.pushes("李卫东", "2026-12-08") if "支委会" in b]

    rescheduled = t.reply("李卫东", "改期 3 2026-12-16 16:30 党员活动室二")
    assert "时间：12月16日(周三) 16:00 → 12月16日(周三) 16:30" in rescheduled
    # 日程 by number: #2 gone, #3 at its new time, #10 arranged; then January's.
    planned = t.reply("李卫东", "日程", on="2026-12-14").splitlines()
    assert [line for line in planned if line.startswith("· #")][:3] == [
        "· #4 12月16日(周三) 16:00 党小组会（第二党小组）",
        "· #3 12月16日(周三) 16:30 党小组会（第一党小组）",
        "· #10 12月22日(周二) 16:00 支委会",
    ]
    assert t.reply("吴海燕", "请假 参加县里的教研活动").startswith(
        "✅ 已登记请假：党小组会（第二党小组） 12月16日(周三) 16:00（#4）"
    )
    # Two 党小组会 open at once: each member lands in their own group's.
    assert "党小组会（第二党小组）" in t.reply("赵志强", "签到", on="2026-12-16 15:55")
    assert "党小组会（第二党小组）" in t.reply("孙丽华", "签到", on="2026-12-16 16:05")
    assert "党小组会（第一党小组）" in t.reply("李卫东", "签到", on="2026-12-16 16:25")
    late = t.reply("刘洋", "签到", on="2026-12-16 16:50")
    assert "党小组会（第一党小组）" in late and "迟到 20 分钟" in late
    assert "迟到 20 分钟" in t.reply("王晓梅", "签到", on="2026-12-22 16:20")
    assert t.reply("李卫东", "补签 赵志强 10") == (
        "✅ 已补签：赵志强 · 支委会 #10（12月22日(周二) 16:00）\n记为出席。"
    )


def test_daily_check_in_replies(month: Month) -> None:
    t, _ = month
    assert t.reply("吴海燕", "签到", on="2026-12-01").startswith("您还没有绑定身份。")
    assert t.reply("吴海燕", "绑定 吴海燕 0007").startswith("✅ 绑定成功：吴海燕\n")
    assert t.reply("吴海燕", "签到", on="2026-12-07") == "✅ 上班签到成功 08:10，按时。"
    assert t.reply("王晓梅", "签到", on="2026-12-07") == (
        "⚠️ 上班签到成功 08:45，迟到（应在 08:30 前）。"
    )
    assert t.reply("刘洋", "签退", on="2026-12-14") == "✅ 下班签到成功 17:30，按时。"
    # 周建国: 23 mornings on time, and the 主题党日 (late).
    done = t.replies("周建国", "签到")
    assert len(done) == 24
    assert sum(r.startswith("✅ 上班签到成功 08:10，按时。") for r in done) == 23


def test_joining_mid_month(month: Month) -> None:
    t, _ = month
    assert "（2026-12-14 10:00 导入花名册：新增 1 人，更新 0 人，未变 0 人）" in t.out
    # Nothing is owed from before 10:00 on the 14th: not that morning's slot (closed 09:30),
    # not the 12-04 meeting, not study task #1 (due 12-10).
    assert t.reply("刘洋", "我的", on="2026-12-14") == (
        "📋 刘洋 · 本月\n2026-12-01 ~ 2026-12-31\n"
        "日常签到：按时 0，迟到 0，缺 0\n"
        "组织生活：出席 0，迟到 0，请假 0，缺席 0\n"
        "学习：已学 0，逾期 0，未学 0"
    )
    # 12-14 上班: 钱进 stopped after the 11th; 刘洋 joined after it closed.
    # 下班: 周建国 never checks out; 钱进.
    missing = t.reply("李卫东", "未签到", on="2026-12-14")
    assert "【上班】1 人\n钱进" in missing
    assert "【下班】2 人\n周建国、钱进" in missing


def test_study_by_due_date_and_audience(month: Month) -> None:
    t, _ = month
    assert t.reply("钱进", "学习 1") == "#1《学习党的二十大报告全文》 是党员学习任务，您无需确认。"
    assert t.reply("赵志强", "学习 1") == "✅ 已确认学习 #1《学习党的二十大报告全文》"  # due day
    assert t.reply("孙丽华", "学习 1").endswith("已过截止日期 12月10日(周四)，记为逾期。")
    assert t.reply("孙丽华", "学习 3").endswith("已过截止日期 12月25日(周五)，记为逾期。")
    assert "范围：县教育局机关党支部 · 全体人员" in t.reply(
        "李卫东", "发布学习 廉洁从教警示教育 截止 2026-12-25 全体"
    )
    # The day before each due date, 17:00: who has not confirmed yet (#1: 党员 only, 钱进
    # not; 刘洋 not yet on the roster. #3: 全体, 刘洋 and 钱进 included, both done).
    [first] = t.pushes(f"{BRANCH}群", "2026-12-09 17:00")
    assert "以下同志还未确认（4 人）：\n周建国、赵志强、孙丽华、吴海燕" in first
    [third] = t.pushes(f"{BRANCH}群", "2026-12-24 17:00")
    assert "以下同志还未确认（2 人）：\n周建国、孙丽华" in third


# ---- the figures -------------------------------------------------------------------------

# 日常签到 (46 slots for a full month; 刘洋 joined 12-14 10:00, after 上班 closed, so he owes
# that day's 下班 and both slots of the 13 working days from the 15th: 1 + 26 = 27):
#   周建国  上班 23 on time, no 下班               按时 23 迟到 0 缺 23
#   李卫东  46 on time                              按时 46 迟到 0 缺 0
#   王晓梅  46, 上班 late 12-07 and 12-21           按时 44 迟到 2 缺 0
#   赵志强  46 − 4 (12-08, 12-09)                   按时 42 迟到 0 缺 4
#   孙丽华  46, 上班 late 12-01..04                 按时 42 迟到 4 缺 0
#   钱进    9 days (1st–11th) × 2 = 18             按时 18 迟到 0 缺 28
#   吴海燕  19 days (7th–31st) × 2 = 38, late 31st  按时 37 迟到 1 缺 8
#   刘洋    27 − 1 (下班 12-24)                     按时 26 迟到 0 缺 1
#   branch: due 7 × 46 + 27 = 349, done 46+46+23+42+46+18+38+26 = 285 → 285/349 = 82%
CHECKIN = {
    "周建国": (23, 0, 23, 46),
    "李卫东": (46, 0, 0, 46),
    "王晓梅": (44, 2, 0, 46),
    "赵志强": (42, 0, 4, 46),
    "孙丽华": (42, 4, 0, 46),
    "钱进": (18, 0, 28, 46),
    "吴海燕": (37, 1, 8, 46),
    "刘洋": (26, 0, 1, 27),
}
# 组织生活 (#2 cancelled: counts nowhere):
#   #1 主题党日 12-04 16:40, every 党员/预备党员 on the roster then (6; not 钱进, not 刘洋):
#      李卫东 出席, 王晓梅 出席, 周建国 迟到, 赵志强 缺席, 孙丽华 请假, 吴海燕 请假（补假）
#   #4 党小组会（第二）12-16 16:00 (3): 赵志强 出席, 孙丽华 出席, 吴海燕 请假
#   #3 党小组会（第一）12-16 16:30 (4, 刘洋 included): 李卫东 出席, 王晓梅 出席,
#      刘洋 迟到, 周建国 缺席
#   #10 支委会 12-22 16:00, the committee (3): 李卫东 出席, 王晓梅 迟到, 赵志强 出席（补签）
#   per member (出席, 迟到, 请假, 缺席):
#   周建国 #1 #3 → 0 1 0 1     李卫东 #1 #3 #10 → 3 0 0 0   王晓梅 #1 #3 #10 → 2 1 0 0
#   赵志强 #1 #4 #10 → 2 0 0 1  孙丽华 #1 #4 → 1 0 1 0       吴海燕 #1 #4 → 0 0 2 0
#   刘洋 #3 → 0 1 0 0          钱进 none
#   branch: 应到 16 = 出席 8 + 迟到 3 + 请假 3 + 缺席 2; 出勤 (8 + 3)/16 = 69%
MEETINGS = {
    "周建国": (0, 1, 0, 1),
    "李卫东": (3, 0, 0, 0),
    "王晓梅": (2, 1, 0, 0),
    "赵志强": (2, 0, 0, 1),
    "孙丽华": (1, 0, 1, 0),
    "吴海燕": (0, 0, 2, 0),
    "刘洋": (0, 1, 0, 0),
}
# 学习: December holds #1 (due 12-10; the 6 党员/预备党员 on the roster by then) and #3
# (全体, due 12-25; all 8). Not #2 (published 11-30, no due date) nor #4 (due 2027-01-15),
# though 王晓梅 and 李卫东 confirmed those in December.
#   周建国 #1 未, #3 未 → 0 0 2      李卫东 #1 ✓ #3 ✓ → 2 0 0     王晓梅 → 2 0 0
#   赵志强 #1 ✓ (on 12-10) #3 ✓ → 2 0 0    孙丽华 #1 逾期 (12-15) #3 逾期 (12-28) → 0 2 0
#   钱进 #3 ✓ → 1 0 0    吴海燕 #1 未 #3 ✓ → 1 0 1    刘洋 #3 ✓ → 1 0 0
#   branch: 应学 6 + 8 = 14, 已确认 11 (2 逾期) → 11/14 = 79%
STUDY = {
    "周建国": (0, 0, 2),
    "李卫东": (2, 0, 0),
    "王晓梅": (2, 0, 0),
    "赵志强": (2, 0, 0),
    "孙丽华": (0, 2, 0),
    "钱进": (1, 0, 0),
    "吴海燕": (1, 0, 1),
    "刘洋": (1, 0, 0),
}
PEOPLE = list(CHECKIN)  # roster order: the demo roster's, then 刘洋


def my_record(name: str, label: str = "本月") -> str:
    on, late, missing, _ = CHECKIN[name]
    lines = [f"📋 {name} · {label}", "2026-12-01 ~ 2026-12-31"]
    lines.append(f"日常签到：按时 {on}，迟到 {late}，缺 {missing}")
    if name in MEETINGS:
        p, lt, lv, a = MEETINGS[name]
        lines.append(f"组织生活：出席 {p}，迟到 {lt}，请假 {lv}，缺席 {a}")
    done, overdue, todo = STUDY[name]
    lines.append(f"学习：已学 {done}，逾期 {overdue}，未学 {todo}")
    return "\n".join(lines)


SUMMARY_BODY = "\n".join(
    [
        "2026-12-01 ~ 2026-12-31",
        "组织生活出勤 69%（11/16）",
        "日常签到 82%（285/349）",
        "学习完成 79%（11/14）",
        "",
        "【日常签到】",
        *(f"{n} 按时{c[0]} 迟到{c[1]} 缺{c[2]}" for n, c in CHECKIN.items()),
        "",
        "【组织生活】",
        *(f"{n} 出席{c[0]} 迟到{c[1]} 请假{c[2]} 缺席{c[3]}" for n, c in MEETINGS.items()),
        "",
        "【学习】",
        *(f"{n} 已学{c[0]} 逾期{c[1]} 未学{c[2]}" for n, c in STUDY.items()),
    ]
)


def test_mid_month_with_a_slot_open(month: Month) -> None:
    t, _ = month
    # 12-16 08:15. Closed so far: both slots of the 11 working days 1st–15th = 22 owed;
    # 周建国 checked in every 上班 (11) and never 下班: 缺 11. His 08:10 check-in today is
    # shown (按时 12) but owes nothing yet. Meetings held: #1 (迟到). Study: #1 due 12-10
    # (未学); #3 is not published yet.
    assert t.reply("周建国", "我的", on="2026-12-16") == (
        "📋 周建国 · 本月\n2026-12-01 ~ 2026-12-31\n"
        "日常签到：按时 12，迟到 0，缺 11\n"
        "组织生活：出席 0，迟到 1，请假 0，缺席 0\n"
        "学习：已学 0，逾期 0，未学 1"
    )


def test_each_members_record(month: Month) -> None:
    t, _ = month
    for name in PEOPLE:
        assert t.reply(name, "我的", on="2026-12-31") == my_record(name), name
    assert t.reply("王晓梅", "我的 上月") == my_record("王晓梅", "上月")


def test_the_secretarys_summary(month: Month) -> None:
    t, _ = month
    summary = t.reply("李卫东", "汇总")
    text, _, image = summary.rpartition("\n[图片 ")
    assert text == f"📊 {BRANCH} · 本月\n{SUMMARY_BODY}"
    assert image.endswith(" 字节]")


def test_the_monthly_push(month: Month) -> None:
    t, _ = month
    # December, for the secretary only, on the first working day of January at 09:00;
    # nobody missed every meeting of the last three months, so no 组织生活预警.
    [push] = t.pushes("李卫东", "2027-01-04 09:00")
    assert push == f"📊 {BRANCH} · 上月\n{SUMMARY_BODY}"
    # The first push after install (12-01) covered only 11-30 from the import at 17:00:
    # that evening's 下班 slot (7 people, nobody checked out) and task #2, published that
    # day without a due date (6 党员 and 预备党员).
    [first] = t.pushes("李卫东", "2026-12-01 09:00")
    assert first.startswith(
        f"📊 {BRANCH} · 上月（11月30日起）\n2026-11-30 ~ 2026-11-30\n"
        "组织生活出勤 —（0/0）\n日常签到 0%（0/7）\n学习完成 0%（0/6）\n"
    )
    for name in PEOPLE:
        if name != "李卫东":
            assert t.pushes(name, "2027-01-04 09:00") == []


def test_the_export(month: Month) -> None:
    t, where = month
    link = t.reply("李卫东", "导出")
    assert link.startswith(f"📤 {BRANCH} · 本月（2026-12-01 ~ 2026-12-31）\n📎 Excel 明细")
    path = where / "清风汇总_20261201-20261231.xlsx"
    assert f"（链接里的 Excel 已保存到 {path}）" in t.out
    wb = load_workbook(path)
    day = datetime(2026, 12, 1), datetime(2026, 12, 31)

    # 汇总: the branch's sums (8 people; see CHECKIN, MEETINGS and STUDY), then the title.
    rows = [list(r) for r in wb["汇总"].iter_rows(min_row=2, values_only=True)]
    assert rows == [
        [BRANCH, 8, 16, 8, 3, 3, 2, 11 / 16, 349, 285, 285 / 349, 14, 11, 11 / 14, *day],
        [None] * 16,
        [f"清风 · {BRANCH} · 2026-12-01 ~ 2026-12-31", *[None] * 15],
    ]

    rows = [list(r) for r in wb["日常签到"].iter_rows(min_row=2, values_only=True)]
    assert rows == [
        [BRANCH, n, on, late, missing, due, (due - missing) / due, *day]
        for n, (on, late, missing, due) in CHECKIN.items()
    ]

    d4, d16, d22 = (datetime(2026, 12, d) for d in (4, 16, 22))
    g1, g2 = "党小组会（第一党小组）", "党小组会（第二党小组）"
    rows = [list(r) for r in wb["组织生活"].iter_rows(min_row=2, values_only=True)]
    assert rows == [
        [d4, "16:40", BRANCH, 1, "主题党日", "周建国", "迟到", None, None],
        [d4, "16:40", BRANCH, 1, "主题党日", "李卫东", "出席", None, None],
        [d4, "16:40", BRANCH, 1, "主题党日", "王晓梅", "出席", None, None],
        [d4, "16:40", BRANCH, 1, "主题党日", "赵志强", "缺席", None, None],
        [d4, "16:40", BRANCH, 1, "主题党日", "孙丽华", "请假", "到市委党校参加预备党员培训", None],
        # Entered afterwards by the secretary: the 补录人 column names him.
        [d4, "16:40", BRANCH, 1, "主题党日", "吴海燕", "请假", "在省里参加骨干教师培训", "李卫东"],
        [d16, "16:00", BRANCH, 4, g2, "赵志强", "出席", None, None],
        [d16, "16:00", BRANCH, 4, g2, "孙丽华", "出席", None, None],
        [d16, "16:00", BRANCH, 4, g2, "吴海燕", "请假", "参加县里的教研活动", None],
        [d16, "16:30", BRANCH, 3, g1, "周建国", "缺席", None, None],
        [d16, "16:30", BRANCH, 3, g1, "李卫东", "出席", None, None],
        [d16, "16:30", BRANCH, 3, g1, "王晓梅", "出席", None, None],
        [d16, "16:30", BRANCH, 3, g1, "刘洋", "迟到", None, None],
        [d22, "16:00", BRANCH, 10, "支委会", "李卫东", "出席", None, None],
        [d22, "16:00", BRANCH, 10, "支委会", "王晓梅", "迟到", None, None],
        [d22, "16:00", BRANCH, 10, "支委会", "赵志强", "出席", None, "李卫东"],
    ]

    # 学习: #1 and #3 only (see STUDY), confirmation times as the demo clock read.
    first = (1, "学习党的二十大报告全文", datetime(2026, 12, 10), BRANCH)
    third = (3, "廉洁从教警示教育", datetime(2026, 12, 25), BRANCH)
    rows = [list(r) for r in wb["学习"].iter_rows(min_row=2, values_only=True)]
    assert rows == [
        [*first, "周建国", "未学", None],
        [*first, "李卫东", "已学", datetime(2026, 12, 1, 10, 0)],
        [*first, "王晓梅", "已学", datetime(2026, 12, 2, 10, 0)],
        [*first, "赵志强", "已学", datetime(2026, 12, 10, 10, 0)],
        [*first, "孙丽华", "逾期", datetime(2026, 12, 15, 10, 5)],
        [*first, "吴海燕", "未学", None],
        [*third, "周建国", "未学", None],
        [*third, "李卫东", "已学", datetime(2026, 12, 18, 10, 0)],
        [*third, "王晓梅", "已学", datetime(2026, 12, 18, 10, 10)],
        [*third, "赵志强", "已学", datetime(2026, 12, 22, 10, 0)],
        [*third, "孙丽华", "逾期", datetime(2026, 12, 28, 10, 0)],
        [*third, "钱进", "已学", datetime(2026, 12, 21, 10, 5)],
        [*third, "吴海燕", "已学", datetime(2026, 12, 22, 10, 5)],
        [*third, "刘洋", "已学", datetime(2026, 12, 21, 10, 10)],
    ]


# ---- the demo's /roster -----------------------------------------------------------------


async def test_demo_roster_command(tmp_path: Path) -> None:
    """`/roster 文件` imports at the demo clock's time; bad files change nothing."""
    (tmp_path / "bad.csv").write_text(
        "姓名,支部,身份,手机\n刘洋,县教育局机关党支部,党员,138\n", encoding="utf-8"
    )
    (tmp_path / "twins.csv").write_text(
        "姓名,支部,身份,手机\n王晓梅,县第一中学党支部,党员,13900000099\n"
        "刘洋,县教育局机关党支部,群众,13800000008\n",
        encoding="utf-8",
    )
    script = [
        "/help",
        "/roster",
        f"/roster {tmp_path / 'none.csv'}",
        f"/roster {tmp_path / 'bad.csv'}",
        "/as 刘洋",
        f"/roster {tmp_path / 'twins.csv'}",
        "/as 刘洋",
        "我的",
    ]
    lines: list[str] = []
    await run_demo(
        tmp_path / "demo.db",
        datetime(2026, 12, 14, 10, 0),
        io.StringIO("\n".join(script) + "\n"),
        lines.append,
    )
    out = "\n".join(lines)
    assert "/roster 文件" in out.split("示例人员名单")[1]  # in /help
    assert "（用法：/roster 文件，例：/roster 新成员.csv）" in out
    assert f"（找不到文件 {tmp_path / 'none.csv'}）" in out
    assert "（花名册有 1 处错误，未导入任何人员）\n  第 2 行：手机“138”应为 11 位手机号" in out
    assert "（没有叫“刘洋”的人，/people 查看名单）" in out
    assert (
        "（2026-12-14 10:00 导入花名册：新增 2 人，更新 0 人，未变 0 人）\n"
        "（新入册：刘洋，可用 /as 姓名 发言）\n"
        "（与已有的人重名，演示里无法以其身份发言：王晓梅）"
    ) in out
    assert "（现在以 刘洋 的身份发言）" in out
    # A 群众 on the roster from 10:00: owes none of the morning, no meeting, no study.
    assert "日常签到：按时 0，迟到 0，缺 0\n  学习：已学 0，逾期 0，未学 0" in out
