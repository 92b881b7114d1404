"""Signed, expiring export links: `{public_url}/exports/{token}`.

The token names the workbook (version 1: the summary of 导出; 2: the 台账 of meeting
records), the branch scope and the period and carries its expiry; an HMAC-SHA256
over those fields makes it impossible to widen the scope or extend the time. The key is
`server.export_secret`; when that is empty, a random key generated once and kept in the
database (table app_secrets, name "export") is used, so every replica sharing the
database accepts the same links and a restart does not invalidate them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import overload

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from handlers.periods import Period
from storage import app_secrets

SECRET_NAME = "export"
_TOKEN = re.compile(r"([123])\.(all|\d{1,9})\.(\d{8})\.(\d{8})\.(\d{1,12})\.([A-Za-z0-9_-]{43})")
# The leading version names the workbook, inside the signature: a summary link cannot be
# turned into a 台账 link or back.
SUMMARY = "summary"
LEDGER = "ledger"
# The summary asked for in a direct chat: with what only the secretary and admin may see
# (谈心要点, 评议等次); a link posted in a group can be opened by every member.
PRIVATE = "private"
_VERSIONS = {SUMMARY: "1", LEDGER: "2", PRIVATE: "3"}
_KINDS = {v: k for k, v in _VERSIONS.items()}


class BadToken(Exception):
    """Tampered, malformed or expired."""


@dataclass(frozen=True)
class ExportGrant:
    branch_id: int | None  # None: every branch
    period: Period
    expires: datetime
    kind: str = SUMMARY  # SUMMARY, PRIVATE or LEDGER


@overload
async def export_key(s: AsyncSession, settings: Settings) -> bytes: ...
@overload
async def export_key(s: AsyncSession, settings: Settings, create: bool) -> bytes | None: ...
async def export_key(s: AsyncSession, settings: Settings, create: bool = True) -> bytes | None:
    """The signing key; without `create`, None when none was stored yet."""
    configured = settings.server.export_secret.get_secret_value()
    if configured:
        return configured.encode()
    if not create:
        stored = await app_secrets.find(s, SECRET_NAME)
        return None if stored is None else stored.encode()
    return (await app_secrets.get_or_create(s, SECRET_NAME)).encode()


def _sign(key: bytes, payload: str) -> str:
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(key: bytes, grant: ExportGrant) -> str:
    scope = "all" if grant.branch_id is None else str(grant.branch_id)
    p = grant.period
    version, expires = _VERSIONS[grant.kind], int(grant.expires.timestamp())
    payload = f"{version}.{scope}.{p.first:%Y%m%d}.{p.last:%Y%m%d}.{expires}"
    return f"{payload}.{_sign(key, payload)}"


def read_token(key: bytes, token: str, now: datetime) -> ExportGrant:
    """The grant in `token`; raise BadToken if it was altered or has expired."""
    m = _TOKEN.fullmatch(token)
    if not m:
        raise BadToken("malformed")
    payload = token.rsplit(".", 1)[0]
    if not hmac.compare_digest(_sign(key, payload), m[6]):
        raise BadToken("bad signature")
    expires = datetime.fromtimestamp(int(m[5]), UTC)
    if expires <= now:
        raise BadToken("expired")
    try:
        first, last = (datetime.strptime(x, "%Y%m%d").date() for x in (m[3], m[4]))
    except ValueError:
        raise BadToken("malformed") from None
    branch_id = None if m[2] == "all" else int(m[2])
    return ExportGrant(branch_id, Period(first, last, _label(first, last)), expires, _KINDS[m[1]])


def _label(first: date, last: date) -> str:
    return f"{first}~{last}"


async def export_url(s: AsyncSession, settings: Settings, grant: ExportGrant) -> str:
    token = make_token(await export_key(s, settings), grant)
    return f"{settings.server.public_url.rstrip('/')}/exports/{token}"
