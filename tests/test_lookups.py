"""What the dispatcher keeps between messages (storage/lookups.py) never outlives a change:
not one made by another process, not one undone by a rollback, not the clock moving on."""

from __future__ import annotations

from sqlalchemy import text

from bot.router import BIND_HINT
from storage import events
from storage.engine import Database
from storage.models import Account
from tests.conftest import SCHOOL, at, branch_id, member_id


async def elsewhere(app, sql: str, **params) -> None:
    """A change made by another process (the CLI, a script): its own engine and connection."""
    other = Database(app.settings.database.url)
    try:
        async with other.write() as s:
            await s.exec(text(sql), params=params)  # type: ignore[call-overload]
    finally:
        await other.dispose()


async def test_an_account_added_elsewhere_is_known_to_the_next_message(app, chat):
    assert await chat.text("xin", "签到") == BIND_HINT
    await elsewhere(
        app,
        "INSERT INTO accounts (member_id, platform, external_id, bound_at) "
        "VALUES (:m, 'wecom', 'xin', :t)",
        m=await member_id(app, "新同志"),
        t=at("2026-12-01 08:00"),
    )
    assert await chat.text("xin", "我的") != BIND_HINT


async def test_a_member_deactivated_elsewhere_is_unknown_at_once(app, chat):
    assert await chat.text("wang", "签到") == "✅ 上班签到成功 08:10，按时。"
    await elsewhere(app, "UPDATE members SET active = false WHERE name = '王党员'")
    assert await chat.text("wang", "签退") == BIND_HINT


async def test_a_meeting_added_elsewhere_opens_sign_in_at_once(app, chat, clock):
    clock.set(at("2026-12-04 14:00"))
    reply = await chat.text("liu", "签到", chat="wr-school")
    assert reply == "现在没有正在签到的活动，本支部也未开启每日上下班签到。"
    await elsewhere(
        app,
        "INSERT INTO events (branch_id, kind, starts_at, place, created_at) "
        "VALUES (:b, '党课', :t, '', :t)",
        b=await branch_id(app, SCHOOL),
        t=at("2026-12-04 14:20"),
    )
    clock.set(at("2026-12-04 14:05"))
    reply = await chat.text("liu", "签到", chat="wr-school")
    assert reply == "✅ 签到成功：党课（12月4日(周五) 14:20）\n记为出席。"


async def test_a_meeting_that_closed_gives_way_to_the_next(app, chat, clock):
    school = await branch_id(app, SCHOOL)
    async with app.db.write() as s:
        await events.create_event(s, school, "党课", at("2026-12-04 09:00"))
        await events.create_event(s, school, "支委会", at("2026-12-04 10:30"))
    clock.set(at("2026-12-04 08:40"))
    assert "党课" in await chat.text("liu", "签到", chat="wr-school")
    clock.set(at("2026-12-04 10:01"))  # 党课 closed at 10:00; 支委会 opens at 10:00
    assert "支委会" in await chat.text("chen", "签到", chat="wr-school")


async def test_what_a_rolled_back_message_looked_up_is_forgotten(app, chat, monkeypatch):
    newcomer = await member_id(app, "新同志")
    router = app.dispatcher.router
    real = router.dispatch

    async def binds_then_fails(ctx):
        if "爆" not in ctx.msg.text:
            return await real(ctx)
        ctx.session.add(Account(member_id=newcomer, platform="wecom", external_id="xin"))
        await ctx.session.flush()
        member, _ = await ctx.lookups.sender(ctx.session, "wecom", "xin")
        assert member is not None and member.id == newcomer  # its own, uncommitted write
        raise RuntimeError("after the write")

    monkeypatch.setattr(router, "dispatch", binds_then_fails)
    assert (await chat.text("wang", "爆")).startswith("抱歉，处理时出错了")
    assert await chat.text("xin", "签到") == BIND_HINT  # the account was rolled back


async def test_every_change_to_a_watched_table_bumps_the_generation(app):
    if not app.db.is_sqlite:
        return  # the generation is SQLite's; on PostgreSQL every lookup is fresh
    school = await branch_id(app, SCHOOL)
    async with app.db.write() as s:
        await events.create_event(s, school, "党课", at("2026-12-04 09:00"))

    async def generation() -> int:
        async with app.db.read() as s:
            return (await s.exec(text("SELECT value FROM lookup_generation"))).one()[0]

    for sql in (
        "UPDATE branches SET name = name",
        "UPDATE members SET name = name",
        "UPDATE accounts SET external_id = external_id",
        "UPDATE chat_groups SET name = name",
        "UPDATE events SET place = place",
        "DELETE FROM events",
        "DELETE FROM chat_groups",
    ):
        before = await generation()
        await elsewhere(app, sql)
        assert await generation() > before, sql
