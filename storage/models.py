"""SQLModel tables. Every datetime is stored as time-zone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Named constraints, so later migrations can alter them (SQLite batch mode needs names).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC out, on every backend.

    SQLite keeps no offset, so values are normalised to UTC before they are written and
    marked UTC when read back; a naive value is a bug and is refused.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = False, index: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


class Status(StrEnum):
    """身份: political status in the roster."""

    MEMBER = "党员"
    PROBATIONARY = "预备党员"
    MASSES = "群众"


class Role(StrEnum):
    """角色: what the person may ask the bot for."""

    MEMBER = "成员"
    SECRETARY = "书记"
    ADMIN = "管理员"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.MEMBER: 0, Role.SECRETARY: 1, Role.ADMIN: 2}


class Slot(StrEnum):
    MORNING = "上班"
    EVENING = "下班"


class EventKind(StrEnum):
    THEME_DAY = "主题党日"
    COMMITTEE = "支委会"
    GENERAL = "党员大会"
    GROUP = "党小组会"
    LECTURE = "党课"
    # Once a year per branch, in a window (default January–February): issue 18.
    ORG_LIFE = "组织生活会"
    APPRAISAL = "民主评议"


class StudyAudience(StrEnum):
    PARTY = "党员"  # 党员 and 预备党员
    ALL = "全体"  # every member on the roster, 群众 included


class AttendanceStatus(StrEnum):
    PRESENT = "出席"
    LATE = "迟到"
    LEAVE = "请假"
    ABSENT = "缺席"  # never stored: an expected member without a row is absent


class Branch(SQLModel, table=True):
    __tablename__ = "branches"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())


class Member(SQLModel, table=True):
    __tablename__ = "members"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=50, index=True)
    branch_id: int = Field(foreign_key="branches.id", index=True)
    status: str = Field(max_length=10)  # Status
    role: str = Field(max_length=10)  # Role
    phone: str = Field(max_length=20, sa_column_kwargs={"unique": True})
    party_group: str = Field(default="", max_length=50)  # 党小组; "" none
    committee: str = Field(default="", max_length=20)  # 支委 职务 (or 委员); "" not on it
    active: bool = True
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())


class Account(SQLModel, table=True):
    """A platform identity (WeCom userid, DingTalk staffId, console name) of a member."""

    __tablename__ = "accounts"
    __table_args__ = (
        sa.UniqueConstraint("platform", "external_id", name="uq_account_platform_external"),
        sa.UniqueConstraint("platform", "member_id", name="uq_account_platform_member"),
    )
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    external_id: str = Field(max_length=128)
    member_id: int = Field(foreign_key="members.id", index=True)
    bound_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())


class Group(SQLModel, table=True):
    """A chat group the bot answers in and pushes to."""

    __tablename__ = "chat_groups"
    __table_args__ = (sa.UniqueConstraint("platform", "chat_id", name="uq_group_platform_chat"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    platform: str = Field(max_length=20)
    chat_id: str = Field(max_length=128)
    branch_id: int | None = Field(default=None, foreign_key="branches.id", index=True)
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())


class CheckIn(SQLModel, table=True):
    __tablename__ = "checkins"
    __table_args__ = (
        sa.UniqueConstraint("member_id", "day", "slot", name="uq_checkin_once"),
        # Covers the summaries' per-member counts over a date range without table lookups.
        sa.Index("ix_checkins_member_day_on_time", "member_id", "day", "on_time"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: uq_checkin_once starts with it (migration 0004).
    member_id: int = Field(foreign_key="members.id")
    day: date = Field(index=True)
    slot: str = Field(max_length=10)  # Slot
    at: datetime = Field(sa_column=_ts())
    on_time: bool


class Event(SQLModel, table=True):
    """A 主题党日 or 三会一课 meeting of one branch."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("uq_events_branch_number", "branch_id", "number", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    branch_id: int = Field(foreign_key="branches.id", index=True)
    # Short, per branch (编号 in 日程, 改期, 取消, 请假, 补签); see storage.events.next_number.
    number: int | None = None
    kind: str = Field(max_length=20)  # EventKind
    starts_at: datetime = Field(sa_column=_ts(index=True))
    place: str = Field(default="", max_length=100)
    party_group: str = Field(default="", max_length=50)  # a 党小组会 of one group; "" all
    # 取消: the row stays (with any leave given) but counts and pushes no more.
    cancelled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    cancel_reason: str = Field(default="", max_length=200)
    # Rule-generated events carry a unique key so regeneration never duplicates them.
    rule_key: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    created_by: int | None = Field(default=None, foreign_key="members.id")
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())


class Attendance(SQLModel, table=True):
    __tablename__ = "attendance"
    __table_args__ = (sa.UniqueConstraint("event_id", "member_id", name="uq_attendance_once"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="events.id", index=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    status: str = Field(max_length=10)  # AttendanceStatus, never ABSENT
    reason: str = Field(default="", max_length=200)
    at: datetime = Field(sa_column=_ts())
    # The secretary who entered it afterwards (补签, 补假); None: the member's own.
    entered_by: int | None = Field(default=None, foreign_key="members.id")


class StudyTask(SQLModel, table=True):
    __tablename__ = "study_tasks"
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    link: str = Field(default="", max_length=500)
    # None: a county-wide task.
    branch_id: int | None = Field(default=None, foreign_key="branches.id", index=True)
    due: date | None = None
    audience: str = Field(default="党员", max_length=10)  # StudyAudience
    created_by: int | None = Field(default=None, foreign_key="members.id")
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())


class StudyConfirmation(SQLModel, table=True):
    __tablename__ = "study_confirmations"
    __table_args__ = (sa.UniqueConstraint("task_id", "member_id", name="uq_study_once"),)
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="study_tasks.id", index=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    at: datetime = Field(sa_column=_ts())
    late: bool = False


class InboundMessage(SQLModel, table=True):
    """Every platform message id seen, with the reply given, so retries change nothing."""

    __tablename__ = "inbound_messages"
    __table_args__ = (sa.UniqueConstraint("platform", "message_id", name="uq_inbound_once"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    message_id: str = Field(max_length=128)
    sender: str = Field(default="", max_length=128)
    reply: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, default=""))
    received_at: datetime = Field(sa_column=_ts(index=True))
    # When the reply was sent apart from the platform's answer (a long connection, a late
    # reply): set by whoever sends it, so a re-delivery of the message, on any replica,
    # sends nothing more. Empty while it has not gone out that way.
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    MISSED = "missed"
    SKIPPED = "skipped"  # nothing to say when it fell due (e.g. everyone had confirmed)


class Outbox(SQLModel, table=True):
    """One push to one target; the unique key makes each occurrence go out once."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_state_due", "state", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=40)
    group_id: int | None = Field(default=None, foreign_key="chat_groups.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="members.id")
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # JSON of the message
    due_at: datetime = Field(sa_column=_ts())
    state: str = Field(default=OutboxState.PENDING, max_length=10)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_error: str = Field(default="", max_length=500)
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())


class AppSecret(SQLModel, table=True):
    """A random secret the app made for itself (e.g. export links when none is configured).

    Kept in the database so every replica that shares it signs and checks alike.
    """

    __tablename__ = "app_secrets"
    name: str = Field(primary_key=True, max_length=50)
    value: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())


class Lease(SQLModel, table=True):
    """Who holds a named resource (a bot's long connection) and until when.

    Several replicas share one database; only the holder of an unexpired lease may act.
    """

    __tablename__ = "leases"
    name: str = Field(primary_key=True, max_length=128)
    holder: str = Field(max_length=128)
    expires_at: datetime = Field(sa_column=_ts())
    acquired_at: datetime = Field(sa_column=_ts())


class MemberChange(SQLModel, table=True):
    """One change to a person (新增, 更新, 离开, 重新加入, 改名): who made it, when, from where.

    Kept forever, so a wrong roster can be traced and undone by hand.
    """

    __tablename__ = "member_changes"
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    phone: str = Field(max_length=20, index=True)  # as of the change
    name: str = Field(max_length=50)  # as of the change
    action: str = Field(max_length=10)
    detail: str = Field(default="", max_length=2000)  # 字段 旧 → 新, one per line
    actor: str = Field(max_length=100)  # operator (OS user) or chat sender
    source: str = Field(max_length=200)  # file name or command
    at: datetime = Field(sa_column=_ts(index=True))


class Talk(SQLModel, table=True):
    """谈心谈话: who talked with whom, when, and a short note for the secretary and admin only."""

    __tablename__ = "talks"
    id: int | None = Field(default=None, primary_key=True)
    branch_id: int = Field(foreign_key="branches.id", index=True)
    member_id: int = Field(foreign_key="members.id", index=True)  # talked with
    by_member_id: int = Field(foreign_key="members.id")  # who recorded (and talked)
    note: str = Field(default="", max_length=200)  # never shown to members
    at: datetime = Field(sa_column=_ts(index=True))


class BranchTerm(SQLModel, table=True):
    """换届: one election of a branch's committee and the term it runs for.

    Kept as history; the branch's current term is its latest `elected_on`."""

    __tablename__ = "branch_terms"
    __table_args__ = (
        sa.UniqueConstraint("branch_id", "elected_on", name="uq_branch_terms_once"),
    )
    id: int | None = Field(default=None, primary_key=True)
    branch_id: int = Field(foreign_key="branches.id", index=True)
    elected_on: date
    years: int = 3
    source: str = Field(default="", max_length=200)  # command or file it came from
    recorded_at: datetime = Field(sa_column=_ts())


class Appraisal(SQLModel, table=True):
    """民主评议党员: a member's 评定等次 for a year, entered by the secretary.

    Shown to the member and to the secretary and admin, never to other members."""

    __tablename__ = "appraisals"
    __table_args__ = (sa.UniqueConstraint("member_id", "year", name="uq_appraisals_once"),)
    id: int | None = Field(default=None, primary_key=True)
    branch_id: int = Field(foreign_key="branches.id", index=True)
    member_id: int = Field(foreign_key="members.id")
    year: int
    grade: str = Field(max_length=10)  # 优秀 / 合格 / 基本合格 / 不合格
    by_member_id: int | None = Field(default=None, foreign_key="members.id")
    at: datetime = Field(sa_column=_ts())


class Pledge(SQLModel, table=True):
    """廉洁自律承诺: a pledge the admin publishes for members to confirm (like a study task)."""

    __tablename__ = "pledges"
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    link: str = Field(default="", max_length=500)
    # None: every branch (the admin's county-wide pledge).
    branch_id: int | None = Field(default=None, foreign_key="branches.id", index=True)
    due: date | None = None
    created_by: int | None = Field(default=None, foreign_key="members.id")
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_ts())


class PledgeConfirmation(SQLModel, table=True):
    __tablename__ = "pledge_confirmations"
    __table_args__ = (sa.UniqueConstraint("pledge_id", "member_id", name="uq_pledge_once"),)
    id: int | None = Field(default=None, primary_key=True)
    pledge_id: int = Field(foreign_key="pledges.id", index=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    at: datetime = Field(sa_column=_ts())
    late: bool = False


class MeetingNote(SQLModel, table=True):
    """纪要 for the 台账: a meeting's topic and record, several messages, and images."""

    __tablename__ = "meeting_notes"
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="events.id", index=True)
    topic: str = Field(default="", max_length=200)  # 议题; "" when the message added none
    body: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, default=""))
    # An image the platform delivered: its URL or media id ("" for a text note).
    image: str = Field(default="", max_length=1000)
    by_member_id: int | None = Field(default=None, foreign_key="members.id")
    at: datetime = Field(sa_column=_ts())


class ConsoleSession(SQLModel, table=True):
    """A 看板 (web console) session, started from a single-use login link sent in chat.

    Only the SHA-256 of the cookie is kept, so a copy of the database opens no session;
    `login_nonce` is unique, so a login link works once. Scope is not stored: it comes from
    the member's role at every request."""

    __tablename__ = "console_sessions"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    login_nonce: str = Field(max_length=32, sa_column_kwargs={"unique": True})
    member_id: int = Field(foreign_key="members.id", index=True)
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
