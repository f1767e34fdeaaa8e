"""Pure parser of nurses' SMS replies (ACK / SNOOZE / HELP + a 4-digit code), forgiving of case and typos."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

DEFAULT_SNOOZE_MINUTES: Final = 30
MAX_SNOOZE_MINUTES: Final = 240


class ReplyKind(StrEnum):
    ACK = "ack"
    SNOOZE = "snooze"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Reply:
    """What a reply asked for: the action, the alert code it names and, for a snooze, the minutes."""

    kind: ReplyKind
    code: str | None = None
    minutes: int | None = None


_KEYWORDS: Final = {
    ReplyKind.ACK: ("ack", "ok", "okay", "acknowledge", "acknowledged", "yes", "确认", "收到", "好"),
    ReplyKind.SNOOZE: ("snooze", "snz", "later", "暂停", "稍后"),
    ReplyKind.HELP: ("help", "?", "帮助"),
}
_TOKEN: Final = re.compile(r"\d+|[a-z]+|[\u4e00-\u9fff]+|\?")


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (tiny words only)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _keyword(word: str) -> ReplyKind | None:
    for kind, words in _KEYWORDS.items():
        if word in words:
            return kind
    if not word.isascii() or len(word) < 2:
        return None
    # Typos: one edit for short words (ack -> ak, acl, ackk), two for snooze (snoze, snoozz, snooze).
    if _distance(word, "ack") <= 1 and word[0] == "a":
        return ReplyKind.ACK
    if len(word) >= 4 and _distance(word, "snooze") <= 2 and word[0] == "s":
        return ReplyKind.SNOOZE
    if len(word) >= 3 and _distance(word, "help") <= 1 and word[0] == "h":
        return ReplyKind.HELP
    return None


def parse_reply(body: str) -> Reply:
    """Parses "ACK 4821", "ack4821", "4821 ok", "Snoze 4821 45", "确认 4821", "help"; else UNKNOWN."""
    tokens = _TOKEN.findall(body.lower())
    kind: ReplyKind | None = None
    numbers: list[str] = []
    for token in tokens:
        if token.isdigit():
            numbers.append(token)
        elif kind is None:
            kind = _keyword(token)
    codes = [n for n in numbers if len(n) == 4]
    code = codes[0] if codes else None
    if kind is None:
        return Reply(ReplyKind.UNKNOWN, code)
    if kind is ReplyKind.HELP:
        return Reply(ReplyKind.HELP, code)
    if code is None:
        return Reply(ReplyKind.UNKNOWN)
    if kind is ReplyKind.ACK:
        return Reply(ReplyKind.ACK, code)
    rest = [n for n in numbers if n != code or numbers.count(code) > 1]
    minutes = int(rest[0]) if rest else DEFAULT_SNOOZE_MINUTES
    minutes = max(1, min(minutes, MAX_SNOOZE_MINUTES))
    return Reply(ReplyKind.SNOOZE, code, minutes)
