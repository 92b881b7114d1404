"""WeCom's callback encryption (the published 加解密方案), for the 智能机器人's JSON envelope.

AES-256-CBC with the key decoded from the 43-character EncodingAESKey and the key's first
16 bytes as IV. The plaintext is 16 random bytes, the message length (4 bytes, big-endian),
the message, and the receive id (empty for the 智能机器人, the corp id for an app), padded
PKCS#7-style to a multiple of 32 bytes. The signature is SHA-1 over the sorted token,
timestamp, nonce and ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32
MAX_AGE_SECONDS = 3600
_ENTITY = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class CallbackRejected(Exception):
    """A callback that must not be trusted; `status` is the HTTP answer (400/403)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from a 43-character EncodingAESKey."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("EncodingAESKey is not base64") from exc
    if len(encoding_aes_key) != 43 or len(key) != 32:
        raise ValueError("EncodingAESKey must be 43 characters")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time; a non-ASCII `given` is simply wrong (compare_digest raises on it)."""
    return given.isascii() and hmac.compare_digest(expected, given)


def has_entity_declaration(body: bytes) -> bool:
    """XML with a DOCTYPE or ENTITY declaration: never parsed (billion laughs, XXE)."""
    return _ENTITY.search(body) is not None


def check_timestamp(timestamp: str, now: float, max_age: int = MAX_AGE_SECONDS) -> None:
    """Refuse a callback whose timestamp is not a number or more than `max_age` off."""
    # isascii first: str.isdigit() also accepts "²" and other digits int() refuses.
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise CallbackRejected(400, "bad timestamp")
    if abs(now - int(timestamp)) > max_age:
        raise CallbackRejected(403, "stale timestamp")


class WeComCrypto:
    """Signs, encrypts and decrypts one receiver's callbacks."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.key = decode_aes_key(encoding_aes_key)
        self.receive_id = receive_id.encode()
        # Built once: each message only asks it for a fresh encryptor or decryptor.
        self._cipher = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self.token, timestamp, nonce, encrypted)

    def verify(self, sig: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = self.sign(timestamp, nonce, encrypted)
        if not signature_matches(expected, sig):
            raise CallbackRejected(403, "bad signature")

    def encrypt(self, plaintext: bytes, random16: bytes | None = None) -> str:
        """Base64 ciphertext of `plaintext`; `random16` only for fixed test vectors."""
        prefix = random16 if random16 is not None else secrets.token_bytes(16)
        data = prefix + struct.pack(">I", len(plaintext)) + plaintext + self.receive_id
        pad = BLOCK - len(data) % BLOCK
        data += bytes([pad]) * pad
        enc = self._cipher.encryptor()
        return base64.b64encode(enc.update(data) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        """The message inside `encrypted`; CallbackRejected(403) if it was not made with our
        key for our receive id."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRejected(400, "ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise CallbackRejected(400, "ciphertext length")
        dec = self._cipher.decryptor()
        data = dec.update(raw) + dec.finalize()
        pad = data[-1]
        if not 1 <= pad <= BLOCK or data[-pad:] != bytes([pad]) * pad or len(data) < 20 + pad:
            raise CallbackRejected(403, "cannot decrypt")
        body = data[16:-pad]
        (length,) = struct.unpack(">I", body[:4])
        if length > len(body) - 4 or not hmac.compare_digest(body[4 + length :], self.receive_id):
            raise CallbackRejected(403, "wrong receive id")
        return body[4 : 4 + length]

    def seal(self, plaintext: bytes, timestamp: str) -> dict[str, str]:
        """The 智能机器人's encrypted JSON reply envelope."""
        nonce = secrets.token_hex(8)
        encrypted = self.encrypt(plaintext)
        return {
            "encrypt": encrypted,
            "msgsignature": self.sign(timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }
