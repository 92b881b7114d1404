"""DingTalk (钉钉): the enterprise robot's callback, replies, and pushes to groups and people."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.platforms.dingtalk.adapter import DingTalkAdapter
from bot.platforms.dingtalk.client import AccessToken, DingTalkHTTP, RobotAPI
from bot.platforms.dingtalk.transport import DingTalkTransport

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["DingTalkAdapter", "DingTalkTransport", "install"]


def install(app: App) -> DingTalkAdapter | None:
    """Add DingTalk's transport when it can send, and its callback when an appSecret is set."""
    cfg = app.settings.dingtalk
    secret = cfg.app_secret.get_secret_value()
    http = DingTalkHTTP(lambda: app.http)
    api = None
    if cfg.app_key and secret:
        token = AccessToken(http, cfg.api_base, cfg.app_key, secret, app.clock)
        # For an enterprise internal app the robot's code is its appKey unless set otherwise.
        api = RobotAPI(http, token, cfg.api_base, cfg.robot_code or cfg.app_key)
    transport = DingTalkTransport(http, api, app.clock)
    if api is not None or any(g.platform == "dingtalk" for g in app.settings.groups):
        # Only a platform that can send is offered to the outbox: a member with accounts on
        # several platforms is then reached on one that works.
        app.transports["dingtalk"] = transport
    if not secret:
        return None
    adapter = DingTalkAdapter(
        app_secret=secret,
        dispatcher=app.dispatcher,
        db=app.db,
        clock=app.clock,
        http=http,
        transport=transport,
        max_body=app.settings.server.max_body_bytes,
    )
    app.web_adapters.append(adapter)
    return adapter
