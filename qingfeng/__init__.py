"""清风 (qingfeng): a WeCom/DingTalk group bot for school Party branches."""

__version__ = "0.1.0"
