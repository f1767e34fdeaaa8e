"""The short ids a patient's state keeps of readings and alerts: ten hex digits of BLAKE2b."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

from monitor.compiled import compiled_only

_BLAKE2B_5: Final = hashlib.blake2b(digest_size=5)  # copied, not built, at each call: no keyword parsing


def plain_short(text: str) -> str:
    """The definition: blake2b(text.encode(), digest_size=5).hexdigest()."""
    h = _BLAKE2B_5.copy()
    h.update(text.encode())
    return h.hexdigest()


short: Final[Callable[[str], str]] = compiled_only("monitor.short_id_fast", "short") or plain_short
"""The ten hex digits; compiled, BLAKE2b in C (monitor/short_id_fast.pyx) instead of a hashlib object: once a
reading (bench/README.md, eighteenth session)."""
