"""Logging: one line per event, key=value fields, and no secret ever written."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from qingfeng.bot.config import Settings

log = logging.getLogger("qingfeng.http")

_FIELDS = ("rid", "method", "path", "status", "ms", "platform", "msg_id", "outbox_id", "key")


class KeyValueFormatter(logging.Formatter):
    """`2026-12-01T08:10:00 INFO qingfeng.http request rid=... status=200 ms=3.1`."""

    def format(self, record: logging.LogRecord) -> str:
        base = (
            f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname} "
            f"{record.name} {record.getMessage()}"
        )
        extras = [f"{k}={getattr(record, k)}" for k in _FIELDS if hasattr(record, k)]
        line = " ".join([base, *extras])
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class RedactSecrets(logging.Filter):
    """Masks every configured secret value, wherever a message might carry one."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        msg = record.getMessage()
        redacted = msg
        for secret in self._secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != msg:
            record.msg, record.args = redacted, None
        return True


def secret_values(settings: Settings) -> list[str]:
    values = [
        settings.wecom.app.secret,
        settings.wecom.app.token,
        settings.wecom.app.encoding_aes_key,
        settings.wecom.aibot.token,
        settings.wecom.aibot.encoding_aes_key,
        settings.dingtalk.app_secret,
        settings.server.export_secret,
    ]
    for g in settings.groups:
        values += [g.webhook, g.secret]
    return [v.get_secret_value() for v in values]


def setup_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Install the formatter and the redaction filter on the root handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(RedactSecrets(secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line per request; the query string is left out (it carries signatures)."""
    rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:12]
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if request.path != "/healthz":
            log.info(
                "request",
                extra={
                    "rid": rid,
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "ms": round((time.perf_counter() - start) * 1000, 1),
                },
            )
