"""Who is looking at the 看板: the session behind the cookie, and what they may see.

Scope is worked out from the member's role at every request, never stored: a secretary
demoted at 10:00 is refused at 10:00:01, whatever her cookie says.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import console
from storage.models import Branch, Member, Role

COOKIE = "qf_console"
SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True)
class Viewer:
    member: Member
    branch: Branch  # their own
    role: Role
    token_hash: str
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def may_see(self, branch_id: int) -> bool:
        return self.is_admin or branch_id == self.branch.id


def new_token() -> tuple[str, str]:
    """A fresh cookie value and the hash kept in the database."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(key: bytes, hashed: str) -> str:
    """Bound to the session: a form from one session cannot be posted with another."""
    return hmac.new(key, f"csrf:{hashed}".encode(), hashlib.sha256).hexdigest()[:32]


def csrf_ok(key: bytes, hashed: str, sent: str) -> bool:
    return hmac.compare_digest(csrf_token(key, hashed), sent)


async def viewer(
    s: AsyncSession, request: web.Request, key: bytes, now: datetime
) -> Viewer | None:
    """The signed-in secretary or admin; None for no, an expired, revoked or forged cookie,
    or a person who is no longer a secretary or admin."""
    cookie = request.cookies.get(COOKIE, "")
    if not cookie or len(cookie) > 100:
        return None
    hashed = token_hash(cookie)
    found = await console.find(s, hashed, now)
    if found is None:
        return None
    _, member, branch = found
    role = Role(member.role)
    if role.rank < Role.SECRETARY.rank:
        return None
    return Viewer(member, branch, role, hashed, csrf_token(key, hashed))
