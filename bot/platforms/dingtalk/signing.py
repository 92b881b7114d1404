"""DingTalk signatures: the robot callback's `sign` header and the custom robot's 加签.

Both are base64(HMAC-SHA256(key=secret, msg=timestamp + "\\n" + secret)); the callback
uses the app's appSecret, a custom robot its own SEC... secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

# DingTalk refuses callbacks whose timestamp is more than an hour off; so do we.
MAX_SKEW_MS = 60 * 60 * 1000


def sign(secret: str, timestamp_ms: int | str) -> str:
    """base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_callback(
    timestamp: str | None, signature: str | None, app_secret: str, now_ms: int
) -> bool:
    """True when the headers prove the callback came from DingTalk within the last hour."""
    if not timestamp or not signature or not app_secret:
        return False
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
        return False
    if abs(now_ms - int(timestamp)) > MAX_SKEW_MS:
        return False
    expected = sign(app_secret, timestamp).encode("ascii")
    try:
        given = signature.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given)


def signed_webhook_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The custom robot webhook URL with 加签 appended (a fresh signature per request)."""
    if not secret:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={timestamp_ms}&sign={quote_plus(sign(secret, timestamp_ms))}"
