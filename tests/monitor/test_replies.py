"""Reply parsing: ACK/SNOOZE/HELP with a code, any case, common typos, zh-CN keywords."""

from __future__ import annotations

import pytest

from monitor.replies import DEFAULT_SNOOZE_MINUTES, Reply, ReplyKind, parse_reply

A, S, H, U = ReplyKind.ACK, ReplyKind.SNOOZE, ReplyKind.HELP, ReplyKind.UNKNOWN


@pytest.mark.parametrize(("body", "expected"), [
    ("ACK 4821", Reply(A, "4821")),
    ("ack 4821", Reply(A, "4821")),
    ("Ack4821", Reply(A, "4821")),
    ("  4821 ack ", Reply(A, "4821")),
    ("ak 4821", Reply(A, "4821")),
    ("ackk 4821", Reply(A, "4821")),
    ("acj 4821", Reply(A, "4821")),
    ("OK 4821", Reply(A, "4821")),
    ("ACK 4821.", Reply(A, "4821")),
    ("确认 4821", Reply(A, "4821")),
    ("确认4821", Reply(A, "4821")),
    ("SNOOZE 4821 30", Reply(S, "4821", 30)),
    ("snooze 4821 45", Reply(S, "4821", 45)),
    ("Snoze 4821 45", Reply(S, "4821", 45)),
    ("snoozee 4821 10", Reply(S, "4821", 10)),
    ("snooz 4821", Reply(S, "4821", DEFAULT_SNOOZE_MINUTES)),
    ("snooze 30 4821", Reply(S, "4821", 30)),
    ("snooze 4821 9999", Reply(S, "4821", 240)),
    ("snooze 4821 0", Reply(S, "4821", 1)),
    ("暂停 4821 20", Reply(S, "4821", 20)),
    ("HELP", Reply(H)),
    ("help me", Reply(H)),
    ("?", Reply(H)),
    ("帮助", Reply(H)),
    ("ACK", Reply(U)),
    ("ACK 48", Reply(U)),
    ("snooze", Reply(U)),
    ("4821", Reply(U, "4821")),
    ("thanks", Reply(U)),
    ("", Reply(U)),
    ("stop", Reply(U)),
    ("banana 4821", Reply(U, "4821")),
])
def test_parse_reply(body: str, expected: Reply) -> None:
    assert parse_reply(body) == expected


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_to_a_reply(body: str) -> None:
    reply = parse_reply(body)
    assert reply.kind in ReplyKind
    if reply.code is not None:
        assert len(reply.code) == 4 and reply.code.isdigit()
    if reply.minutes is not None:
        assert 1 <= reply.minutes <= 240


@settings(max_examples=200, deadline=None)
@given(st.integers(1000, 9999), st.sampled_from(["ACK", "ack", "Ack", "ak", "确认"]), st.booleans())
def test_ack_with_any_code_either_order(code: int, word: str, code_first: bool) -> None:
    body = f"{code} {word}" if code_first else f"{word} {code}"
    assert parse_reply(body) == Reply(A, str(code))
