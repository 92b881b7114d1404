"""Pushes through WeCom: group robots' webhooks and the app's message/send, against the fake."""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import timedelta

import pytest

from bot.messages import Mention, Reply
from bot.platforms.wecom.client import post_json
from bot.sending import GroupTarget, SendError
from tests.fakes.wecom import (
    AIBOT_KEY,
    AIBOT_TOKEN,
    APP_SECRET,
    aibot_text,
)

LONG = "\n\n".join(
    f"第{i + 1}条：节日期间严禁违规收送礼品礼金，严禁参加学生家长宴请。" * 10 for i in range(6)
)  # six paragraphs of ~1000 bytes: three webhook messages of two paragraphs each


pytest_plugins = ["tests.fakes.wecom_fixtures"]
WECOM_GROUPS = 30


@pytest.fixture
def transport(bot, clock):
    t = bot.app.transports["wecom"]
    t.slept = []

    async def sleep(seconds: float) -> None:  # back-off moves the clock, never waits
        t.slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    t.sleep = sleep
    return t


def targets(bot) -> list[GroupTarget]:
    return [
        GroupTarget("wecom", g.chat_id, g.name, g.webhook.get_secret_value())
        for g in bot.app.settings.groups
    ]


async def deliver(transport, clock, target: GroupTarget, reply: Reply, tries: int = 5) -> int:
    """Send as the outbox does: on a transient SendError wait retry_after and try again."""
    for attempt in range(1, tries + 1):
        try:
            await transport.send_group(target, reply)
            return attempt
        except SendError as exc:
            assert not exc.permanent, exc.reason
            clock.advance(timedelta(seconds=exc.retry_after or 30))
    raise AssertionError("never delivered")


async def test_push_to_30_groups_arrives_once_each_split_and_survives_failures(
    bot, fake, transport, clock
):
    transport.timeout = 0.3  # the injected "slow" answer must time out quickly
    fake.fail("webhook", "45009", "5xx", "slow", "5xx", "45009", "5xx")
    attempts = [await deliver(transport, clock, t, Reply(LONG)) for t in targets(bot)]

    assert attempts == [3] + [1] * 29  # the first push needed two later retries
    assert len(fake.pushes) == 30
    expected = LONG.split("\n\n")
    for key, messages in fake.pushes.items():
        contents = [m["text"]["content"] for m in messages]
        assert len(contents) == 3, key
        assert "\n\n".join(contents) == LONG  # nothing lost, nothing repeated
        assert contents[0] == "\n\n".join(expected[:2])
        assert all(len(c.encode()) <= 2048 for c in contents)
    assert [code for _, code in fake.refused] == [45009, 0, 0, 0, 45009, 0]
    assert transport.slept == [1.0, 2.0, 1.0, 2.0]


async def test_a_retry_after_a_partial_send_resumes_without_repeating_pieces(
    bot, fake, transport, clock
):
    fake.fail("webhook", "ok", "5xx", "5xx", "5xx")
    target = targets(bot)[0]
    assert await deliver(transport, clock, target, Reply(LONG)) == 2
    contents = [m["text"]["content"] for m in fake.pushes["key-0"]]
    assert len(contents) == 3 and "\n\n".join(contents) == LONG


async def test_twenty_messages_a_minute_per_robot_then_deferred_until_the_minute_is_over(
    bot, fake, transport, clock
):
    target = targets(bot)[0]
    for i in range(20):
        await transport.send_group(target, Reply(f"提醒 {i}"))
    with pytest.raises(SendError) as err:
        await transport.send_group(target, Reply("提醒 20"))
    assert not err.value.permanent
    assert err.value.retry_after == pytest.approx(60)
    assert len(fake.pushes["key-0"]) == 20
    assert fake.refused == []  # kept back here: the fake never had to answer 45009
    await transport.send_group(targets(bot)[1], Reply("别的群不受影响"))
    clock.advance(timedelta(seconds=60))
    await transport.send_group(target, Reply("提醒 20"))
    assert fake.pushes["key-0"][-1]["text"]["content"] == "提醒 20"


async def test_the_fake_answers_45009_past_twenty_a_minute(bot, fake):
    url = fake.robot("direct")
    for i in range(20):
        await post_json(bot.app.http, url, {"msgtype": "text", "text": {"content": f"{i}"}}, 5)
    with pytest.raises(Exception, match="45009"):
        await post_json(bot.app.http, url, {"msgtype": "text", "text": {"content": "x"}}, 5)


async def test_mentions_in_text_use_mentioned_list_and_in_markdown_the_userid_tag(
    bot, fake, transport
):
    target = targets(bot)[0]
    people = (Mention("wang", "王党员"), Mention("sun", "孙预备"))
    await transport.send_group(target, Reply("请尽快完成学习", mentions=people))
    await transport.send_group(target, Reply("**学习提醒**", mentions=people, markdown=True))
    text, md = fake.pushes["key-0"]
    assert text["text"] == {"content": "请尽快完成学习", "mentioned_list": ["wang", "sun"]}
    assert md["markdown"]["content"] == "**学习提醒**\n<@wang> <@sun>"


async def test_long_markdown_is_split_under_4096_bytes(bot, fake, transport):
    await transport.send_group(targets(bot)[0], Reply(LONG + "\n\n" + LONG, markdown=True))
    contents = [m["markdown"]["content"] for m in fake.pushes["key-0"]]
    assert len(contents) == 3
    assert all(len(c.encode()) <= 4096 for c in contents)


async def test_chart_goes_as_image_with_base64_and_md5(bot, fake, transport):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
    await transport.send_group(targets(bot)[0], Reply("各支部出勤率", image_png=png))
    text, image = fake.pushes["key-0"]
    assert text["text"]["content"] == "各支部出勤率"
    assert base64.b64decode(image["image"]["base64"]) == png
    assert image["image"]["md5"] == hashlib.md5(png).hexdigest()


async def test_removed_robot_and_bad_parameters_are_permanent(bot, fake, transport):
    gone = GroupTarget("wecom", "wr-gone", "旧群", f"{fake.base}/cgi-bin/webhook/send?key=gone")
    with pytest.raises(SendError) as err:
        await transport.send_group(gone, Reply("x"))
    assert err.value.permanent and "93000" in err.value.reason
    fake.fail("webhook", "40058")
    with pytest.raises(SendError) as err:
        await transport.send_group(targets(bot)[0], Reply("x"))
    assert err.value.permanent and "40058" in err.value.reason
    no_hook = GroupTarget("wecom", "wr-x", "无地址群")
    with pytest.raises(SendError) as err:
        await transport.send_group(no_hook, Reply("x"))
    assert err.value.permanent


async def test_server_errors_that_persist_become_a_transient_failure_for_the_outbox(
    bot, fake, transport
):
    fake.fail("webhook", "5xx", "5xx", "5xx")
    with pytest.raises(SendError) as err:
        await transport.send_group(targets(bot)[0], Reply("x"))
    assert not err.value.permanent and err.value.retry_after == 30
    assert transport.slept == [1.0, 2.0]
    assert fake.pushes["key-0"] == []


# --- to a person through the app ---------------------------------------------------------
async def test_direct_messages_share_one_access_token(bot, fake, transport):
    for user in ("li", "chen", "zhou", "li"):
        await transport.send_direct(user, Reply("本月汇总已生成"))
    assert fake.gettoken_calls == 1
    assert [m["touser"] for m in fake.messages] == ["li", "chen", "zhou", "li"]
    assert fake.messages[0]["agentid"] == 1000002
    assert fake.messages[0]["text"] == {"content": "本月汇总已生成"}


async def test_expired_token_is_refreshed_once(bot, fake, transport, clock):
    await transport.send_direct("li", Reply("第一条"))
    fake.expire_tokens()
    await transport.send_direct("li", Reply("第二条"))
    assert fake.gettoken_calls == 2
    assert [m["text"]["content"] for m in fake.messages] == ["第一条", "第二条"]
    # Past its stated lifetime the client fetches a new token before sending.
    clock.advance(timedelta(hours=2))
    await transport.send_direct("li", Reply("第三条"))
    assert fake.gettoken_calls == 3


async def test_token_refused_again_after_refresh_is_transient(bot, fake, transport):
    await transport.send_direct("li", Reply("预热"))
    fake.fail("send", "42001", "42001", "42001", "42001", "42001", "42001")
    with pytest.raises(SendError) as err:
        await transport.send_direct("li", Reply("x"))
    assert not err.value.permanent


async def test_long_direct_message_is_split_under_2048_bytes(bot, fake, transport):
    await transport.send_direct("li", Reply(LONG))
    contents = [m["text"]["content"] for m in fake.messages]
    assert len(contents) == 3 and all(len(c.encode()) <= 2048 for c in contents)


async def test_wrong_secret_is_permanent(bot, fake, transport):
    transport.client._secret = "wrong"
    with pytest.raises(SendError) as err:
        await transport.send_direct("li", Reply("x"))
    assert err.value.permanent and "40001" in err.value.reason


async def test_secrets_never_reach_the_log(bot, fake, transport, caplog):
    caplog.set_level(logging.DEBUG)
    fake.fail("webhook", "5xx", "45009", "5xx")
    fake.fail("send", "42001")
    with pytest.raises(SendError):
        await transport.send_group(targets(bot)[0], Reply("x"))
    await transport.send_direct("li", Reply("y"))
    resp = await bot.post_aibot(aibot_text("log-1", "wang", "签到", chatid="wr-0"))
    assert resp.status == 200
    forged = await bot.http.post("/wecom/aibot", params=bot.aibot.query("x"), data=b"{}")
    assert forged.status == 400
    # aiohttp.access is the test servers' request log (the fake's gettoken URL carries the
    # secret, as the real one does); `qingfeng serve` runs without an access log.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "attempt" in logged and "chatid=wr-0" in logged
    secrets = [APP_SECRET, AIBOT_KEY, AIBOT_TOKEN, "key-0", *fake.tokens]
    assert not [s for s in secrets if s in logged]
