"""Splitting long text into pieces under a UTF-8 byte limit, at paragraph breaks first."""

from __future__ import annotations


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of `text`, each at most `limit` UTF-8 bytes, cut at the gentlest break.

    Paragraphs (blank lines) are kept whole when they fit, then lines, then characters;
    no piece is empty and joining the pieces loses only the breaks they were cut at.
    """
    if limit < 4:
        raise ValueError("limit must fit one UTF-8 character")
    if utf8_len(text) <= limit:
        return [text]
    return [p for p in _split(text, limit, ("\n\n", "\n")) if p.strip()]


def _split(text: str, limit: int, seps: tuple[str, ...]) -> list[str]:
    if utf8_len(text) <= limit:
        return [text]
    if not seps:
        return _split_chars(text, limit)
    sep, rest = seps[0], seps[1:]
    pieces: list[str] = []
    current = ""
    for part in text.split(sep):
        candidate = f"{current}{sep}{part}" if current else part
        if utf8_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        if utf8_len(part) <= limit:
            current = part
        else:
            *whole, current = _split(part, limit, rest)
            pieces.extend(whole)
    if current:
        pieces.append(current)
    return pieces


def _split_chars(text: str, limit: int) -> list[str]:
    pieces: list[str] = []
    current, size = [], 0
    for ch in text:
        n = utf8_len(ch)
        if size + n > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += n
    if current:
        pieces.append("".join(current))
    return pieces
