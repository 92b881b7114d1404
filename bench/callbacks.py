"""P1 and P2: signed DingTalk / encrypted WeCom `签到` callbacks, end to end, vs a bare
aiohttp handler returning fixed JSON. Same prepared requests, same separate load client.

The bot runs `qingfeng serve` on a SQLite county of 5,000 members whose check-in window
covers the whole day and today is a working day, so every request verifies, parses,
dedupes, writes one row and replies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    QINGFENG,
    ROOT,
    clean_env,
    free_port,
    paired_ratio,
    prepare_county,
    spawn,
    stop,
    wait_healthy,
)

DT_SECRET = "bench-dingtalk-app-secret"
WX_TOKEN = "bench-aibot-token"
WX_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
MEMBERS = 5000
WARMUP = 500
ROUNDS = 5  # bot rounds, each between two baseline rounds (common.paired_ratio)
BASE_ROUND = 2400  # the baseline answers ~3x faster: more requests keep its rounds as long


def bot_env(env: dict[str, str], port: int) -> dict[str, str]:
    today = time.strftime("%Y-%m-%d", time.localtime(time.time() + 8 * 3600 - time.timezone))
    env = dict(env)
    env.update(
        {
            "QINGFENG_SERVER__PORT": str(port),
            "QINGFENG_DINGTALK__APP_KEY": "bench-app-key",
            "QINGFENG_DINGTALK__APP_SECRET": DT_SECRET,
            "QINGFENG_DINGTALK__ROBOT_CODE": "bench-robot",
            "QINGFENG_WECOM__AIBOT__TOKEN": WX_TOKEN,
            "QINGFENG_WECOM__AIBOT__ENCODING_AES_KEY": WX_KEY,
            # Every branch checks in all day, and today counts as a working day.
            "QINGFENG_CHECKIN__MORNING": '{"start": "00:00", "end": "23:59"}',
            "QINGFENG_CHECKIN__EVENING": '{"start": "00:00", "end": "23:59"}',
            "QINGFENG_BRANCHES": json.dumps(
                [{"name": f"第{b}支部", "daily_checkin": True} for b in range(250)]
            ),
            "QINGFENG_CALENDAR__OVERRIDES": json.dumps(
                [{"name": "bench", "date": today, "workdays": [today]}]
            ),
        }
    )
    return env


def dingtalk_requests(
    base: str, n: int, first: int = 0, webhook: str = "http://127.0.0.1:9/session"
) -> list[dict[str, Any]]:
    """Signed callbacks; a reply too slow for the HTTP answer goes to `webhook`."""
    ts = str(int(time.time() * 1000))
    sign = base64.b64encode(
        hmac.new(DT_SECRET.encode(), f"{ts}\n{DT_SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    out = []
    # Member i signs in, then (i >= MEMBERS) signs out: every request writes a new row.
    for i in range(first, first + n):
        word = "签到" if i < MEMBERS else "签退"
        body = {
            "msgId": f"bench-{secrets.token_hex(8)}",
            "msgtype": "text",
            "text": {"content": f" {word}"},
            "conversationId": "cid-bench-group",
            "conversationType": "2",
            "conversationTitle": "基准测试群",
            "senderId": f"$:LWCP_v1:$bench{i}",
            "senderStaffId": f"dt{i % MEMBERS}",
            "senderNick": f"成员{i % MEMBERS}",
            "chatbotUserId": "$:LWCP_v1:$bot",
            "robotCode": "bench-robot",
            "sessionWebhook": f"{webhook}?key=m{i}",
            "sessionWebhookExpiredTime": int(time.time() * 1000) + 3_600_000,
            "createAt": int(time.time() * 1000),
            "isInAtList": True,
        }
        out.append(
            {
                "url": f"{base}/dingtalk/robot",
                "headers": {"timestamp": ts, "sign": sign, "Content-Type": "application/json"},
                "body": json.dumps(body, ensure_ascii=False),
            }
        )
    return out


def _wx_encrypt(key: bytes, plain: bytes) -> str:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    data = secrets.token_bytes(16) + struct.pack(">I", len(plain)) + plain
    pad = 32 - len(data) % 32
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(data + bytes([pad]) * pad) + enc.finalize()).decode()


def wecom_requests(base: str, n: int, first: int = 0) -> list[dict[str, Any]]:
    key = base64.b64decode(WX_KEY + "=")
    ts = str(int(time.time()))
    out = []
    # Member i signs in, then (i >= MEMBERS) signs out: every request writes a new row.
    for i in range(first, first + n):
        word = "签到" if i < MEMBERS else "签退"
        payload = {
            "msgid": f"bench-{secrets.token_hex(8)}",
            "aibotid": "aib-bench",
            "chatid": "wr-bench-group",
            "chattype": "group",
            "from": {"userid": f"wx{i % MEMBERS}"},
            "response_url": "http://127.0.0.1:9/response",
            "msgtype": "text",
            "text": {"content": f"@清风 {word}"},
        }
        encrypted = _wx_encrypt(key, json.dumps(payload, ensure_ascii=False).encode())
        nonce = secrets.token_hex(4)
        sig = hashlib.sha1("".join(sorted([WX_TOKEN, ts, nonce, encrypted])).encode()).hexdigest()
        out.append(
            {
                "url": f"{base}/wecom/aibot?msg_signature={sig}&timestamp={ts}&nonce={nonce}",
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"encrypt": encrypted}),
            }
        )
    return out


def load(requests: list[dict[str, Any]], work: Path, *mode: str) -> dict[str, Any]:
    path = work / f"reqs-{secrets.token_hex(4)}.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in requests))
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", str(path), *mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def count_rows(db: Path) -> int:
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM checkins").fetchone()[0]
    finally:
        con.close()


def bench(platform: str, n: int = 6000, concurrency: int = 16) -> dict[str, Any]:
    build = dingtalk_requests if platform == "dingtalk" else wecom_requests
    with tempfile.TemporaryDirectory(prefix=f"qf-{platform}-") as tmp:
        work = Path(tmp)
        env = prepare_county(work, MEMBERS)
        port = free_port()
        bot = spawn([QINGFENG, "serve"], bot_env(env, port), work)
        bport = free_port()
        base = spawn(
            [sys.executable, "-m", "bench.baseline_server", str(bport)], clean_env(), ROOT, work
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz")
            wait_healthy(f"http://127.0.0.1:{bport}/healthz")
            bot_url, base_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bport}"
            # Warm both up first (the bot's start-up pass, first statements, connections):
            # the figures are for a server that has been running, as in production.
            for url in (base_url, bot_url):
                load(build(url, WARMUP, n + 1000), work, "--concurrency", str(concurrency))
            # Interleave, base first and last, so each bot round has a baseline round on
            # either side in the same minutes of a shared machine.
            bot_rounds, base_rounds, statuses = [], [], Counter[str]()
            per_round, conc = n // ROUNDS, str(concurrency)
            for r in range(ROUNDS + 1):
                b = load(build(base_url, BASE_ROUND), work, "--concurrency", conc)
                base_rounds.append(b["rps"])
                if r == ROUNDS:
                    break
                q = load(build(bot_url, per_round, r * per_round), work, "--concurrency", conc)
                bot_rounds.append(q["rps"])
                statuses.update(q["statuses"])  # Counter: adds the counts
            rated = load(build(bot_url, 1000, n), work, "--mode", "rate", "--rate", "200")
            rows = count_rows(work / "bench.db")
        finally:
            stop(bot)
            stop(base)
    bot_rps, base_rps = statistics.median(bot_rounds), statistics.median(base_rounds)
    return {
        "platform": platform,
        "bot_rps": bot_rps,
        "base_rps": base_rps,
        "bot_rounds": bot_rounds,
        "base_rounds": base_rounds,
        "ratio": paired_ratio(bot_rounds, base_rounds),
        "ratio_of_medians": bot_rps / base_rps,
        "p99_ms_at_200": rated["p99_ms"],
        "p50_ms_at_200": rated["p50_ms"],
        # Every bot request of the measured rounds and the rated run, by answer.
        "statuses": dict(statuses + Counter(rated["statuses"])),
        "rows": rows,
    }


def _spread(rounds: list[float]) -> str:
    return " / ".join(f"{x:.0f}" for x in rounds)


def report(r: dict[str, Any], pid: str) -> None:
    """A figure, not a target: what a county needs is C1 and C2 (bench/county.py)."""
    print(
        f"{pid} {r['platform']:8s} bot {r['bot_rps']:7.0f} req/s  baseline {r['base_rps']:7.0f} "
        f"req/s  ratio {r['ratio']:.2f} (of the medians {r['ratio_of_medians']:.2f})  "
        f"p99 at 200/s {r['p99_ms_at_200']:.1f} ms (p50 {r['p50_ms_at_200']:.1f})  "
        f"rows {r['rows']}  statuses {r['statuses']}\n"
        f"    rounds: bot {_spread(r['bot_rounds'])}  baseline {_spread(r['base_rounds'])}"
    )


if __name__ == "__main__":
    which = sys.argv[1:] or ["dingtalk", "wecom"]
    if "dingtalk" in which:
        report(bench("dingtalk"), "P1")
    if "wecom" in which:
        report(bench("wecom"), "P2")
