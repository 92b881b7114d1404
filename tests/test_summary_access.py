"""Who may pull what: members are refused, secretaries see their branch, admins all."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.context import Services
from bot.messages import Reply
from handlers.summary import PARAGRAPH_BYTES, paragraphs
from storage import members, study
from storage.models import Member, StudyTask
from tests.conftest import BUREAU, SCHOOL, at, branch_id

SECRETARY_COMMANDS = [
    "汇总",
    "统计 上月",
    "未签到",
    "缺勤 2026-12-01",
    "未学习",
    "催学",
    "发布学习 测试任务",
    "导出 上月",
]


@pytest.mark.parametrize("command", SECRETARY_COMMANDS)
async def test_a_member_gets_a_one_line_refusal(app, chat, command):
    reply = await chat.text("wang", command)
    assert "\n" not in reply
    assert reply.endswith("仅限支部书记和管理员使用。")
    async with app.db.read() as s:
        assert (await s.exec(select(StudyTask))).all() == []


async def test_secretary_cannot_name_another_branch(chat):
    assert await chat.text("li", f"汇总 本月 {SCHOOL}") == (f"您只能查看本支部（{BUREAU}）的数据。")
    assert await chat.text("li", f"导出 上月 {SCHOOL}") == f"您只能查看本支部（{BUREAU}）的数据。"


async def test_secretary_summary_in_another_group_still_shows_own_branch(chat):
    reply = await chat.text("li", "汇总", chat="wr-school")
    assert reply.startswith(f"📊 {BUREAU} · 本月")
    assert "刘老师" not in reply


async def test_secretary_cannot_see_another_branchs_task(app, chat, clock):
    school = await branch_id(app, SCHOOL)
    async with app.db.write() as s:
        task = await study.create_task(
            s, "一中内部材料", "", school, None, None, created_at=clock.now()
        )
    assert await chat.text("li", f"未学习 {task.id}") == f"没有编号为 {task.id} 的学习任务。"
    assert await chat.text("li", f"催学 {task.id}") == f"没有编号为 {task.id} 的学习任务。"
    reply = await chat.text("chen", f"未学习 {task.id}", chat="wr-school")
    assert "未学 3 人" in reply and "陈书记、刘老师、新同志" in reply


async def test_admin_named_branch_and_unknown_branch(chat):
    assert (await chat.text("zhou", f"汇总 {SCHOOL}", direct=True)).startswith(f"📊 {SCHOOL}")
    assert await chat.text("zhou", "汇总 火星支部", direct=True) == "没有叫“火星支部”的支部。"
    assert "看不懂期间" in await chat.text("li", "汇总 下个月")


async def test_missing_checkins_for_a_branch_without_daily_checkin(chat):
    assert await chat.text("chen", "未签到", chat="wr-school") == (
        f"{SCHOOL}未开启每日上下班签到。"
    )


async def test_missing_checkins_today_so_far(chat, clock):
    await chat.say("wang", "签到")
    reply = await chat.text("li", "未签到")
    assert "【上班（截至 08:10）】4 人\n周管理、李书记、孙预备、钱群众" in reply
    assert "【下班（截至 08:10）】5 人" in reply


class RecordingPusher:
    """Records what would be queued in the outbox."""

    def __init__(self, groups: int = 1) -> None:
        self.calls: list[tuple[int | None, str, str, Reply]] = []
        self.groups = groups

    async def to_branch_groups(self, session, branch_id, kind, key, message) -> int:
        self.calls.append((branch_id, kind, key, message))
        return self.groups


def with_pusher(app, pusher) -> None:
    services = app.services
    app.dispatcher.services = Services(
        services.settings, services.clock, services.calendar, pusher=pusher
    )


async def test_publish_study_pushes_to_the_branch_groups(app, chat):
    pusher = RecordingPusher()
    with_pusher(app, pusher)
    reply = await chat.text("li", "发布学习 党章第三章 https://example.org/c 截止 2026-12-10")
    assert reply.startswith("✅ 已发布\n📚 新学习任务 #1《党章第三章》\n范围：县教育局机关党支部")
    assert reply.endswith("已推送到 1 个群。")
    bureau = await branch_id(app, BUREAU)
    [(target, kind, key, message)] = pusher.calls
    assert (target, kind, key) == (bureau, "study_task", "study-task:1")
    assert "https://example.org/c" in message.text and "截止 12月10日(周四)" in message.text
    async with app.db.read() as s:
        task = (await s.exec(select(StudyTask))).one()
    assert (task.branch_id, str(task.due), task.link) == (
        bureau,
        "2026-12-10",
        "https://example.org/c",
    )


async def test_admin_publishes_for_the_group_or_the_county(app, chat):
    pusher = RecordingPusher(groups=2)
    with_pusher(app, pusher)
    assert "范围：县第一中学党支部" in await chat.text(
        "zhou", "发布学习 一中任务", chat="wr-school"
    )
    assert "范围：全县" in await chat.text("zhou", "发布学习 全县任务", direct=True)
    school = await branch_id(app, SCHOOL)
    assert [c[0] for c in pusher.calls] == [school, None]


async def test_publish_without_pusher_says_so(app, chat):
    with_pusher(app, None)  # an app built without the outbox
    reply = await chat.text("li", "发布学习 党章第三章")
    assert reply.endswith("（推送未开启，请把本消息转发到支部群。）")
    assert "逾期" not in reply
    bad = await chat.text("li", "发布学习 旧任务 截止 2026-11-01")
    assert bad == "截止日期 11月1日(周日) 已经过去。"
    assert "日期格式" in await chat.text("li", "发布学习 任务 截止 明天")
    assert "请写学习任务的标题" in await chat.text("li", "发布学习")


async def test_nudge_mentions_each_missing_member_by_platform_account(app, chat, clock):
    await chat.say("li", "发布学习 党章第三章 截止 2026-12-10")
    await chat.say("wang", "学习 1")
    reply = await chat.say("li", "催学")
    assert [(m.external_id, m.name) for m in reply.mentions] == [
        ("zhou", "周管理"),
        ("li", "李书记"),
        ("sun", "孙预备"),
    ]  # not 钱群众: a 群众, and the task is for Party members
    assert reply.text.startswith("📢 学习提醒：#1《党章第三章》\n截止 12月10日(周四)")
    # On DingTalk the school's members are mentioned by their DingTalk ids; one has none.
    clock.set(at("2026-12-01 09:00"))
    async with app.db.write() as s:
        await members.bind_account(s, "dingtalk", "xin-dt", (await _id(s, "新同志")))
    from storage import groups

    async with app.db.write() as s:
        await groups.upsert_group(s, "dingtalk", "cid-school", "一中钉钉群", await _bid(s, SCHOOL))
    await chat.say("chen-dt", "发布学习 一中任务", platform="dingtalk", chat="cid-school")
    reply = await chat.say("chen-dt", "催学 2", platform="dingtalk", chat="cid-school")
    assert [m.external_id for m in reply.mentions] == ["chen-dt", "liu-dt", "xin-dt"]


async def _id(s, name: str) -> int:
    return (await members.members_named(s, name))[0].id


async def _bid(s, name: str) -> int:
    return (await members.branch_by_name(s, name)).id


async def test_nudge_needs_the_branchs_own_group(chat):
    await chat.say("li", "发布学习 党章第三章")
    assert "请在本支部的群里" in await chat.text("li", "催学", direct=True)
    assert await chat.text("li", "催学", chat="wr-school") == "您只能在本支部的群里催学。"
    # The bureau's task is not the school's business, even for the admin in its group.
    assert await chat.text("zhou", "催学", chat="wr-school") == "还没有学习任务。"
    await chat.say("chen", "发布学习 一中任务", chat="wr-school")
    reply = await chat.say("zhou", "催学", chat="wr-school")  # the admin may nudge any group
    assert [m.name for m in reply.mentions] == ["陈书记", "刘老师"]
    assert "（未绑定账号、无法@：新同志）" in reply.text


async def test_nudge_when_everyone_studied(chat):
    await chat.say("chen", "发布学习 一中任务", chat="wr-school")
    for who in ("chen", "liu"):
        await chat.say(who, "学习 1", chat="wr-school")
    reply = await chat.say("chen", "催学 1", chat="wr-school")
    assert "（未绑定账号、无法@：新同志）" in reply.text


async def test_long_county_list_is_split_into_paragraphs_under_the_byte_limit(app, chat):
    async with app.db.write() as s:
        for i in range(120):
            b = await members.get_or_create_branch(s, f"第{i:03d}中心小学党支部")
            s.add(Member(name=f"教师{i}", branch_id=b.id, status="党员", role="成员",
                         phone=f"1500000{i:04d}"))  # fmt: skip
    reply = await chat.text("zhou", "汇总", direct=True)
    parts = reply.split("\n\n")
    assert len(parts) >= 4
    assert all(len(p.encode()) < 2048 for p in parts)
    assert parts[2].startswith("【支部排名】（续）")
    assert reply.count("中心小学党支部") == 120


def test_paragraphs_repeat_the_title_and_respect_the_limit():
    lines = [f"成员{i:03d} 按时20 迟到1 缺1" for i in range(300)]
    out = paragraphs("【日常签到】", lines)
    assert all(len(p.encode()) <= PARAGRAPH_BYTES for p in out)
    assert sum(p.count("成员") for p in out) == 300


def test_name_lists_wrap_into_short_lines_per_branch():
    from handlers.summary import name_lines

    rows = [(1, f"甲{i}", i) for i in range(10)] + [(2, "乙0", 99)]
    assert name_lines(rows, {1: "一支部", 2: "二支部"}, True) == [
        "一支部：甲0、甲1、甲2、甲3、甲4、甲5、甲6、甲7",
        "甲8、甲9",
        "二支部：乙0",
    ]
    assert name_lines([], {}, False) == ["无"]


async def test_secretary_in_another_branchs_group_still_acts_on_own_branch(app, chat):
    reply = await chat.text("li", "未签到", chat="wr-school")
    assert reply.startswith(f"🕒 {BUREAU} ·")
    assert "刘老师" not in reply
    reply = await chat.text("li", "发布学习 机关任务", chat="wr-school")
    assert f"范围：{BUREAU}" in reply
    reply = await chat.text("li", "未学习", chat="wr-school")
    assert reply.startswith("📚 #1《机关任务》\n县教育局机关党支部（党员）：已学 0 人，未学 4 人")
