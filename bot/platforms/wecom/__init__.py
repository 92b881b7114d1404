"""WeCom (企业微信): the 智能机器人 and 自建应用 callbacks, and pushes by webhook and app."""

from __future__ import annotations

from bot.clock import Clock
from bot.config import WeComConfig
from bot.platforms.wecom.aibot import AibotAdapter
from bot.platforms.wecom.app_callback import AppCallbackAdapter
from bot.platforms.wecom.client import SessionGetter, WeComClient
from bot.platforms.wecom.crypto import WeComCrypto
from bot.platforms.wecom.replying import InTime, Submit
from bot.platforms.wecom.transport import WeComTransport

__all__ = ["WeComPlatform"]


class WeComPlatform:
    """Everything WeCom the config enables: the callback adapters and the transport."""

    def __init__(
        self, config: WeComConfig, submit: Submit, clock: Clock, session: SessionGetter
    ) -> None:
        self.in_time = InTime(submit)
        app_secret = config.app.secret.get_secret_value()
        self.client: WeComClient | None = None
        if app_secret and config.corp_id:
            self.client = WeComClient(
                session, config.api_base, config.corp_id, app_secret, config.app.agent_id, clock
            )
        # Group pushes need only each group's webhook, so the transport always exists.
        self.transport = WeComTransport(session, self.client, clock)
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
                self.transport if self.client else None,
            )

    @property
    def web_adapters(self) -> list[AibotAdapter | AppCallbackAdapter]:
        return [a for a in (self.aibot, self.app) if a is not None]

    async def drain(self) -> None:
        """Finish replies still being worked on."""
        await self.in_time.drain()

