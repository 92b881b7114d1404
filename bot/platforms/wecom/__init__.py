"""WeCom (企业微信) as one platform: the 智能机器人 and 自建应用 callbacks, the long
connection, and pushes by webhook, app or connection; each piece in its own module here."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bot.clock import Clock
from bot.config import Settings, WeComConfig
from bot.dispatcher import Dispatcher
from bot.platforms.base import HttpGetter, LeaseFactory
from bot.platforms.wecom.aibot import AibotAdapter
from bot.platforms.wecom.app_callback import AppCallbackAdapter
from bot.platforms.wecom.client import SessionGetter, WeComClient
from bot.platforms.wecom.crypto import WeComCrypto
from bot.platforms.wecom.longconn import WeComLongConnection, WeComLongConnectionTransport
from bot.platforms.wecom.replying import InTime
from bot.platforms.wecom.transport import WeComTransport
from bot.sending import Transport

__all__ = ["WeComPlatform", "wecom_platform"]


def wecom_platform(
    settings: Settings,
    *,
    dispatcher: Dispatcher,
    clock: Clock,
    http: HttpGetter,
    lease: LeaseFactory,
) -> WeComPlatform | None:
    """WeCom when the config uses it at all: a callback, the app's API, a group, or the
    long connection; else None."""
    wecom = settings.wecom
    if not (
        wecom.aibot.token.get_secret_value()
        or wecom.app.token.get_secret_value()
        or wecom.app.secret.get_secret_value()
        or any(g.platform == "wecom" for g in settings.groups)
        or wecom.mode == "long_connection"
    ):
        return None
    return WeComPlatform(wecom, dispatcher=dispatcher, clock=clock, http=http, lease=lease)


def _required(http: HttpGetter) -> SessionGetter:
    """The WeCom clients expect a session: asking before initialize is a programming error."""

    def session() -> aiohttp.ClientSession:
        found = http()
        if found is None:
            raise RuntimeError("App.initialize() has not run: no HTTP client yet")
        return found

    return session


class WeComPlatform:
    """Everything WeCom the config enables: callback adapters, long connection, transport."""

    name = "wecom"

    def __init__(
        self,
        config: WeComConfig,
        *,
        dispatcher: Dispatcher,
        clock: Clock,
        http: HttpGetter,
        lease: LeaseFactory,
    ) -> None:
        session = _required(http)
        # Late replies go out once per message id, across replicas: the dispatcher keeps
        # that fact with the message's record.
        self.in_time = InTime(dispatcher.submit, deliveries=dispatcher)
        app_secret = config.app.secret.get_secret_value()
        self.client: WeComClient | None = None
        if app_secret and config.corp_id:
            self.client = WeComClient(
                session, config.api_base, config.corp_id, app_secret, config.app.agent_id, clock
            )
        # Group pushes need only each group's webhook, so this transport always exists.
        webhooks = WeComTransport(session, self.client, clock)
        self.transport: Transport | None = webhooks
        self.aibot: AibotAdapter | None = None
        self.app: AppCallbackAdapter | None = None
        aibot_token = config.aibot.token.get_secret_value()
        if aibot_token:
            # The key's shape and corp_id were checked when the config was read.
            key = config.aibot.encoding_aes_key.get_secret_value()
            crypto = WeComCrypto(aibot_token, key, "")
            self.aibot = AibotAdapter(crypto, self.in_time, clock, session, config.api_base)
        app_token = config.app.token.get_secret_value()
        if app_token:
            self.app = AppCallbackAdapter(
                app_token,
                config.app.encoding_aes_key.get_secret_value(),
                config.corp_id,
                self.in_time,
                clock,
                webhooks if self.client else None,
            )
        self.connection: WeComLongConnection | None = None
        if config.mode == "long_connection":
            bot = config.aibot
            self.connection = WeComLongConnection(
                url=bot.ws_url,
                bot_id=bot.bot_id,
                secret=bot.secret.get_secret_value(),
                dispatcher=dispatcher,
                http=http,
                lease=lease(f"wecom:{bot.bot_id}"),
            )
            # Pushes go over the connection instead of webhooks.
            self.transport = WeComLongConnectionTransport(self.connection, clock)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for adapter in (self.aibot, self.app):
            if adapter is not None:
                adapter.add_routes(router)

    async def start(self) -> None:
        if self.connection is not None:
            self.connection.start()

    async def drain(self) -> None:
        """Finish replies still being worked on."""
        await self.in_time.drain()

    async def stop(self) -> None:
        if self.connection is not None:
            await self.connection.stop()
