"""The WeCom server API over aiohttp: the shared access token and `message/send`.

wechatpy's client is synchronous, so it never runs here; aiohttp uses the app's session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import aiohttp

from bot import jsoncodec
from bot.clock import Clock

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40014, 42001})  # invalid / expired access_token
# Refresh this long before the token's stated expiry, so a request never carries a token
# that runs out on its way.
TOKEN_MARGIN = timedelta(minutes=5)


class ApiError(Exception):
    """A WeCom answer with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class HttpError(Exception):
    """A WeCom answer that is not HTTP 200 or not JSON."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"HTTP {status} {detail}".strip())
        self.status = status


SessionGetter = Callable[[], aiohttp.ClientSession]


async def post_json(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """POST JSON and return the answer whose errcode is 0; raise ApiError/HttpError."""
    async with session.post(url, json=payload, timeout=_timeout(seconds)) as r:
        return await _checked(r)


@cache
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    """One per value, not one per request: every push of a fan-out posts with the same."""
    return aiohttp.ClientTimeout(total=seconds)


async def _checked(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    if resp.status != 200:
        raise HttpError(resp.status)
    try:
        data = await resp.json(loads=jsoncodec.loads, content_type=None)
    except ValueError:
        raise HttpError(resp.status, "not JSON") from None
    if not isinstance(data, dict):
        raise HttpError(resp.status, "not a JSON object")
    code = int(data.get("errcode", 0) or 0)
    if code != 0:
        raise ApiError(code, str(data.get("errmsg", "")))
    return data


class WeComClient:
    """One 自建应用: its cached access token, shared by every sender, and its API calls."""

    def __init__(
        self,
        session: SessionGetter,
        api_base: str,
        corp_id: str,
        secret: str,
        agent_id: int,
        clock: Clock,
        timeout: float = 10.0,
    ) -> None:
        self._session = session
        self.api_base = api_base.rstrip("/")
        self.corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self.clock = clock
        self.timeout = timeout
        self._token: str | None = None
        self._expires: datetime | None = None
        self._lock = asyncio.Lock()

    async def access_token(self, *, stale: str | None = None) -> str:
        """The cached token; fetched when missing, near expiry, or equal to `stale`."""
        async with self._lock:  # one gettoken for all concurrent senders
            fresh = self._token is not None and self._token != stale
            if fresh and self._expires is not None and self.clock.now() < self._expires:
                return self._token  # type: ignore[return-value]
            params = {"corpid": self.corp_id, "corpsecret": self._secret}
            async with self._session().get(
                f"{self.api_base}/cgi-bin/gettoken",
                params=params,
                timeout=_timeout(self.timeout),
            ) as r:
                data = await _checked(r)
            token = str(data.get("access_token") or "")
            if not token:
                raise HttpError(200, "gettoken without access_token")
            expires_in = int(data.get("expires_in", 7200))
            self._token = token
            self._expires = self.clock.now() + timedelta(seconds=expires_in) - TOKEN_MARGIN
            log.info("wecom access token refreshed (valid %s s)", expires_in)
            return token

    async def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST to an access-token API; on an invalid or expired token refresh once."""
        token = await self.access_token()
        try:
            return await self._post(path, token, payload)
        except ApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
        token = await self.access_token(stale=token)
        return await self._post(path, token, payload)

    async def _post(self, path: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        async with self._session().post(
            f"{self.api_base}{path}",
            params={"access_token": token},
            json=payload,
            timeout=_timeout(self.timeout),
        ) as r:
            return await _checked(r)

    async def send_message(self, user_id: str, msgtype: str, body: dict[str, Any]) -> None:
        """One app message to one person (`message/send`)."""
        payload = {"touser": user_id, "agentid": self.agent_id, "msgtype": msgtype, msgtype: body}
        data = await self.call("/cgi-bin/message/send", payload)
        if data.get("invaliduser"):
            # errcode 0 but nobody got it: the user left or is outside the app's range.
            raise ApiError(81013, "invalid user")
