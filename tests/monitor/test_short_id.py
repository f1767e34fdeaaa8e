"""Short ids are the digests stored states hold: the compiled BLAKE2b must give hashlib's, for every str."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor import compiled, short_id

SHORTS = [pytest.param(short_id.plain_short, id="plain")]
if compiled.compiled_only("monitor.short_id_fast", "short") is not None:
    SHORTS.append(pytest.param(compiled.compiled_only("monitor.short_id_fast", "short"), id="compiled"))


def reference(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


def test_the_compiled_half_is_in_use_when_built():
    if compiled.status().compiled:
        assert short_id.short is not short_id.plain_short
        assert len(SHORTS) == 2


@pytest.mark.parametrize("short", SHORTS)
@pytest.mark.parametrize("length", [0, 1, 26, 111, 127, 128, 129, 255, 256, 257, 1000])
def test_every_block_boundary(short, length):
    """One block, exactly one full block (the last one is final), one byte over, and several blocks."""
    text = "".join(random.Random(length).choice("r_0123456789abcdef") for _ in range(length))
    assert short(text) == reference(text)


@pytest.mark.parametrize("short", SHORTS)
@pytest.mark.parametrize("text", ["r_0001", "", "pk_é≥", "\x00\x1f", "🩸" * 40, "x" * 300])
def test_known_and_unicode_ids_and_no_state_kept_between_calls(short, text):
    short("another id first")  # nothing carries over from an earlier call
    assert short(text) == reference(text)
    assert short(text) == reference(text)


@pytest.mark.parametrize("short", SHORTS)
@given(text=st.text(max_size=400))
def test_any_text(short, text):
    assert short(text) == reference(text)


@pytest.mark.parametrize("short", SHORTS)
def test_text_with_a_lone_surrogate_fails_as_encode_does(short):
    with pytest.raises(UnicodeEncodeError):
        short("r_\ud800")
