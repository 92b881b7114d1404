"""Logging: one line per event, key=value fields, and no secret ever written."""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.http import HttpProcessingError

from bot.config import Settings

log = logging.getLogger("qingfeng.http")

_FIELDS = ("rid", "method", "path", "status", "ms", "platform", "msg_id", "outbox_id", "key")


class KeyValueFormatter(logging.Formatter):
    """`2026-12-01T08:10:00 INFO qingfeng.http request rid=... status=200 ms=3.1`."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        # One line per request: the timestamp is formatted once a second, not per line.
        second = int(record.created)
        if second != self._second:
            self._second, self._stamp = second, self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        fields = record.__dict__
        extras = "".join(f" {k}={fields[k]}" for k in _FIELDS if k in fields)
        line = f"{self._stamp} {record.levelname} {record.name} {record.getMessage()}{extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class RedactSecrets(logging.Filter):
    """Masks every configured secret value, wherever a message might carry one."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        # A county configures a webhook and a secret per group, so hundreds of values; a
        # message shorter than all of them (most lines: "request", "push") cannot hold one.
        self._shortest = len(self._secrets[-1]) if self._secrets else 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        msg = record.getMessage()
        if len(msg) < self._shortest:
            return True
        redacted = msg
        for secret in self._secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != msg:
            record.msg, record.args = redacted, None
        return True


class MalformedRequests(logging.Filter):
    """On "aiohttp.server": a request aiohttp could not parse (control bytes in a header, an
    unknown method, an over-long line) becomes one WARNING line instead of a traceback.

    The client has had its 400 from aiohttp already. The line names the error's class and
    the peer only: the exception's message quotes the raw bytes. aiohttp logs a bad method
    at DEBUG, so the logger passes DEBUG and this filter drops what it does not lift.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self._level = level

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            args = record.args
            # aiohttp >= 3.10 logs "Error handling request from %s" with the peer's address.
            peer = args[0] if isinstance(args, tuple) and len(args) == 1 else "-"
            record.msg, record.args = "malformed request from %s: %s", (peer, type(exc).__name__)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
            record.status = exc.code  # printed as status=400, like a request line
            return True
        if isinstance(exc, web.RequestPayloadError):
            # Raised here only by aiohttp draining a body the handler left unread, after the
            # request was answered and logged (read_body answers 400 for one it reads).
            return False
        return record.levelno >= self._level


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
    # The lines carry none of these, and gathering them for every record is most of what a
    # log call costs (the logging HOWTO's "Optimization" settings).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]  # no caller lookup per record
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(RedactSecrets(secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server = logging.getLogger("aiohttp.server")
    server.filters[:] = [f for f in server.filters if not isinstance(f, MalformedRequests)]
    server.addFilter(MalformedRequests(level))
    server.setLevel(logging.DEBUG)  # the filter drops what is below `level`


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def request_logger() -> Middleware:
    """The middleware that writes one line per request; the query string is left out (it
    carries signatures). Request ids are a random prefix for this process and a counter:
    unique across replicas and restarts without a random draw per request."""
    ids = (f"{uuid.uuid4().hex[:6]}{n:06x}" for n in itertools.count(1))

    @web.middleware
    async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = request.headers.get("X-Request-Id") or next(ids)
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

    return request_log
