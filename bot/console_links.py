"""看板 login links: `{public_url}/console/login/{token}`, signed, single use, 10 minutes.

The token names the member, its expiry and a random nonce; an HMAC-SHA256 over them makes
it unforgeable. The nonce is what makes it single use: the session it starts records it
(storage.console.start). The key is derived from `server.export_secret` when that is set
(replicas share it), otherwise a random one kept in the database (app_secrets "console").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from storage import app_secrets

SECRET_NAME = "console"
LOGIN_TTL = timedelta(minutes=10)
_TOKEN = re.compile(r"c1\.(\d{1,12})\.(\d{1,12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})")


class BadLogin(Exception):
    """Tampered, malformed or expired."""


@dataclass(frozen=True)
class Login:
    member_id: int
    expires: datetime
    nonce: str


async def console_key(s: AsyncSession, settings: Settings) -> bytes:
    configured = settings.server.export_secret.get_secret_value()
    if configured:
        # Its own key, so an export link's signature can never pass for a login's.
        return hmac.new(configured.encode(), b"qingfeng console", hashlib.sha256).digest()
    return (await app_secrets.get_or_create(s, SECRET_NAME)).encode()


def _sign(key: bytes, payload: str) -> str:
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_login(key: bytes, member_id: int, now: datetime) -> str:
    expires = int((now + LOGIN_TTL).timestamp())
    payload = f"c1.{member_id}.{expires}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_sign(key, payload)}"


def read_login(key: bytes, token: str, now: datetime) -> Login:
    m = _TOKEN.fullmatch(token)
    if not m:
        raise BadLogin("malformed")
    if not hmac.compare_digest(_sign(key, token.rsplit(".", 1)[0]), m[4]):
        raise BadLogin("bad signature")
    expires = datetime.fromtimestamp(int(m[2]), UTC)
    if expires <= now:
        raise BadLogin("expired")
    return Login(int(m[1]), expires, m[3])


async def login_url(s: AsyncSession, settings: Settings, member_id: int, now: datetime) -> str:
    token = make_login(await console_key(s, settings), member_id, now)
    return f"{settings.server.public_url.rstrip('/')}/console/login/{token}"
