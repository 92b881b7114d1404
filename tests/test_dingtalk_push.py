"""Pushes to DingTalk groups and people: webhooks with 加签, the OpenAPI, limits and failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest

from bot.clock import FakeClock
from bot.messages import Mention, Reply
from bot.platforms.dingtalk.client import AccessToken, DingTalkHTTP, RobotAPI
from bot.platforms.dingtalk.transport import DingTalkTransport
from bot.sending import GroupTarget, SendError
from tests.dingtalk_harness import DingTalkHarness, dingtalk_bot
from tests.fakes.dingtalk import APP_KEY, APP_SECRET, ROBOT_CODE

NOTICE = Reply("【廉洁提醒】元旦将至，严禁违规吃喝。")


@pytest.fixture
async def dt(tmp_path, clock, roster_file, postgres_url) -> AsyncIterator[DingTalkHarness]:
    async with dingtalk_bot(tmp_path, clock, roster_file, postgres_url) as harness:
        yield harness


def webhook_group(dt: DingTalkHarness, n: int) -> GroupTarget:
    url = dt.fake.add_custom_robot(f"hook{n}", f"SECsecret{n}")
    return GroupTarget("dingtalk", f"cidHook{n}==", f"webhook群{n}", url, f"SECsecret{n}")


def openapi_group(n: int) -> GroupTarget:
    return GroupTarget("dingtalk", f"cidApi{n}==", f"接口群{n}")


async def push_until_sent(
    transport: DingTalkTransport, targets: Sequence[GroupTarget], clock: FakeClock
) -> list[float]:
    """A small stand-in for the outbox worker: retry what failed, honouring retry_after by
    moving the clock. Returns the waits it took."""
    pending = list(targets)
    waits: list[float] = []
    for _ in range(20):
        failed: list[tuple[GroupTarget, float]] = []
        for target in pending:
            try:
                await transport.send_group(target, NOTICE)
            except SendError as exc:
                assert not exc.permanent, exc.reason
                failed.append((target, exc.retry_after or 30.0))
        if not failed:
            return waits
        wait = max(after for _, after in failed)
        waits.append(wait)
        clock.advance(timedelta(seconds=wait))
        pending = [t for t, _ in failed]
    raise AssertionError("pushes never got through")


async def test_thirty_groups_half_webhook_half_openapi_survive_failures(dt, clock):
    targets = [webhook_group(dt, n) if n % 2 else openapi_group(n) for n in range(30)]
    dt.fake.fail("webhook", "5xx", "130101", "5xx", "5xx", "5xx", "5xx")
    dt.fake.fail("group", "5xx", "token", "timeout")
    dt.fake.fail("token", "5xx")
    dt.fake.expire_tokens_after = 7
    dt.transport.http.timeout = 0.2  # the injected timeout must not hold the test long

    waits = await push_until_sent(dt.transport, targets, clock)

    got = sorted(d.target for d in dt.fake.delivered)
    want = sorted([f"hook{n}" for n in range(1, 30, 2)] + [f"cidApi{n}==" for n in range(0, 30, 2)])
    assert got == want  # every group exactly once
    assert set(dt.fake.texts()) == {NOTICE.text}
    assert 600.0 in waits  # the throttled robot waited out DingTalk's 10 minutes
    assert dt.fake.token_fetches == 3  # first, after the injected rejection, after expiry


async def test_webhook_push_is_signed_and_ats_the_people_it_concerns(dt):
    target = webhook_group(dt, 1)
    reply = Reply(
        "以下同志尚未完成学习：", (Mention("liu-dt", "刘老师"), Mention("chen-dt", "陈书记"))
    )
    await dt.transport.send_group(target, reply)
    (sent,) = dt.fake.delivered
    # The fake checked 加签 and that each "@staffId" is in the text.
    assert sent.text == "@liu-dt @chen-dt\n以下同志尚未完成学习："
    assert sent.at_user_ids == ("liu-dt", "chen-dt")


async def test_each_webhook_request_is_signed_afresh(dt, clock):
    target = webhook_group(dt, 1)
    await dt.transport.send_group(target, NOTICE)
    clock.advance(timedelta(hours=2))  # an old signature would now be refused
    await dt.transport.send_group(target, NOTICE)
    assert len(dt.fake.delivered) == 2


async def test_markdown_push_renders_for_phones(dt):
    table = "## 本月汇总\n\n| 支部 | 出席率 |\n|---|---|\n| 一中 | 95% |\n第二行"
    await dt.transport.send_group(webhook_group(dt, 1), Reply(table, markdown=True))
    await dt.transport.send_group(openapi_group(2), Reply(table, markdown=True))
    by_hook, by_api = dt.fake.delivered
    expected = "## 本月汇总\n\n支部 · 出席率  \n一中 · 95%  \n第二行"
    assert (by_hook.msgtype, by_hook.title, by_hook.text) == ("markdown", "本月汇总", expected)
    assert (by_api.msgtype, by_api.title, by_api.text) == ("markdown", "本月汇总", expected)


async def test_wrong_secret_and_removed_robot_fail_permanently_with_the_reason(dt):
    bad = GroupTarget(
        "dingtalk", "cid1", "群1", dt.fake.add_custom_robot("hookX", "SECright"), "SECwrong"
    )
    with pytest.raises(SendError) as err:
        await dt.transport.send_group(bad, NOTICE)
    assert err.value.permanent and "310000" in err.value.reason
    gone = GroupTarget(
        "dingtalk", "cid2", "群2", f"{dt.fake.base_url}/robot/send?access_token=nope"
    )
    with pytest.raises(SendError) as err:
        await dt.transport.send_group(gone, NOTICE)
    assert err.value.permanent and "300001" in err.value.reason
    assert "nope" not in err.value.reason and "SEC" not in err.value.reason
    assert dt.fake.delivered == []


async def test_group_with_neither_webhook_nor_conversation_id_fails_permanently(dt):
    with pytest.raises(SendError) as err:
        await dt.transport.send_group(GroupTarget("dingtalk", "name:老群", "老群"), NOTICE)
    assert err.value.permanent and "绑定本群" in err.value.reason


async def test_130101_pauses_that_robot_for_ten_minutes_only(dt, clock):
    throttled, other = webhook_group(dt, 1), webhook_group(dt, 2)
    dt.fake.fail("webhook", "130101")
    with pytest.raises(SendError) as err:
        await dt.transport.send_group(throttled, NOTICE)
    assert (err.value.permanent, err.value.retry_after) == (False, 600.0)

    clock.advance(timedelta(minutes=4))
    requests = dt.fake.requests["webhook"]
    with pytest.raises(SendError) as err:
        await dt.transport.send_group(throttled, NOTICE)
    assert err.value.retry_after == pytest.approx(360.0)
    assert dt.fake.requests["webhook"] == requests  # paused: DingTalk was not even asked
    await dt.transport.send_group(other, NOTICE)  # another group's robot is not paused

    clock.advance(timedelta(minutes=6))
    await dt.transport.send_group(throttled, NOTICE)
    assert [d.target for d in dt.fake.delivered] == ["hook2", "hook1"]


async def test_twenty_a_minute_per_robot_is_kept_before_sending(dt, clock):
    target = webhook_group(dt, 1)
    for _ in range(20):
        await dt.transport.send_group(target, NOTICE)
    # The 21st is held back by our limit instead of earning a 130101 from DingTalk.
    clock.advance(timedelta(seconds=45))
    with pytest.raises(SendError) as err:
        await dt.transport.send_group(target, NOTICE)
    assert not err.value.permanent and err.value.retry_after == pytest.approx(15.0)
    assert dt.fake.requests["webhook"] == 20
    await dt.transport.send_group(webhook_group(dt, 2), NOTICE)  # other robots are unaffected
    clock.advance(timedelta(seconds=15))
    await dt.transport.send_group(target, NOTICE)
    assert len(dt.fake.delivered) == 22


async def test_the_fake_throttles_at_twenty_a_minute_like_dingtalk(dt):
    # Without our limiter, DingTalk answers the 21st message with 130101.
    unlimited = DingTalkTransport(dt.transport.http, None, dt.clock, per_minute=1000)
    target = webhook_group(dt, 1)
    for _ in range(20):
        await unlimited.send_group(target, NOTICE)
    with pytest.raises(SendError) as err:
        await unlimited.send_group(target, NOTICE)
    assert err.value.retry_after == 600.0 and "130101" in err.value.reason


async def test_people_are_sent_twenty_to_a_call(dt):
    users = [f"staff{n:02d}" for n in range(45)]
    await dt.transport.send_people(users, Reply("本月学习任务已发布，请及时学习。"))
    assert dt.fake.batch_sizes == [20, 20, 5]
    assert sorted(d.target for d in dt.fake.delivered if d.via == "person") == users


async def test_direct_push_to_one_person(dt):
    await dt.transport.send_direct("liu-dt", Reply("你本月有 1 次活动缺席。"))
    (sent,) = dt.fake.delivered
    assert (sent.via, sent.target, sent.text) == ("person", "liu-dt", "你本月有 1 次活动缺席。")


async def test_access_token_is_shared_and_renewed_before_it_expires(dt, clock):
    await asyncio.gather(*(dt.transport.send_group(openapi_group(n), NOTICE) for n in range(5)))
    assert dt.fake.token_fetches == 1  # five concurrent senders, one fetch
    clock.advance(timedelta(minutes=105))
    await dt.transport.send_group(openapi_group(8), NOTICE)
    assert dt.fake.token_fetches == 1  # still fresh
    clock.advance(timedelta(minutes=6))  # 9 minutes before the 2-hour expiry
    await dt.transport.send_group(openapi_group(9), NOTICE)
    assert dt.fake.token_fetches == 2
    assert len(dt.fake.delivered) == 7


async def test_5xx_and_timeouts_are_retried_then_reported_as_transient(dt, clock):
    http = DingTalkHTTP(lambda: dt.app.http, timeout=0.1, sleep=dt.transport.http.sleep)
    token = AccessToken(http, dt.fake.base_url, APP_KEY, APP_SECRET, clock)
    transport = DingTalkTransport(http, RobotAPI(http, token, dt.fake.base_url, ROBOT_CODE), clock)
    dt.fake.fail("group", "timeout", "5xx", "timeout")
    await transport.send_group(openapi_group(1), NOTICE)  # the fourth try gets through
    assert dt.backoffs == [0.5, 2.0, 5.0]

    dt.fake.fail("group", "5xx", "timeout", "5xx", "5xx")
    with pytest.raises(SendError) as err:
        await transport.send_group(openapi_group(2), NOTICE)
    assert not err.value.permanent and err.value.retry_after is None
    assert [d.target for d in dt.fake.delivered] == ["cidApi1=="]


async def test_wrong_app_secret_fails_permanently(dt, clock):
    http = dt.transport.http
    token = AccessToken(http, dt.fake.base_url, APP_KEY, "wrong", clock)
    transport = DingTalkTransport(http, RobotAPI(http, token, dt.fake.base_url, ROBOT_CODE), clock)
    with pytest.raises(SendError) as err:
        await transport.send_group(openapi_group(1), NOTICE)
    assert err.value.permanent and "wrong" not in err.value.reason
