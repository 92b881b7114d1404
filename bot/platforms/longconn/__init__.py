"""Long-connection mode: the bot dials out to WeCom and DingTalk, no public address needed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.platforms.dingtalk.stream import DingTalkStream
from bot.platforms.longconn.connection import LongConnection
from bot.platforms.longconn.lease import Lease, replica_id
from bot.platforms.wecom.longconn import (
    WeComLongConnection,
    WeComLongConnectionTransport,
)

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["LongConnection", "build_long_connections"]


def build_long_connections(app: App) -> list[LongConnection]:
    """The connections the config asks for; WeCom's also becomes the WeCom transport."""
    settings, holder = app.settings, replica_id()
    found: list[LongConnection] = []
    if settings.wecom.mode == "long_connection":
        bot = settings.wecom.aibot
        wecom = WeComLongConnection(
            url=bot.ws_url,
            bot_id=bot.bot_id,
            secret=bot.secret.get_secret_value(),
            dispatcher=app.dispatcher,
            http=lambda: app.http,
            lease=Lease(app.db, app.clock, f"wecom:{bot.bot_id}", holder),
        )
        found.append(wecom)
        app.transports["wecom"] = WeComLongConnectionTransport(wecom, app.clock)
    if settings.dingtalk.mode == "long_connection" and app.dingtalk is not None:
        dt = settings.dingtalk
        found.append(
            DingTalkStream(
                api_base=dt.api_base,
                client_id=dt.app_key,
                client_secret=dt.app_secret.get_secret_value(),
                dispatcher=app.dispatcher,
                adapter=app.dingtalk,
                http=lambda: app.http,
                lease=Lease(app.db, app.clock, f"dingtalk:{dt.app_key}", holder),
            )
        )
    return found
