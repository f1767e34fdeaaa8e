"""Builds every flag combination of a characteristic from its commented field fragments (test helper)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

# A field: (condition, bytes, expected dataclass kwargs). condition None = always present;
# (mask, value) = present when flags & mask == value. Fields are listed in payload order.
Field = tuple[tuple[int, int] | None, bytes, dict[str, Any]]


def combinations(valid_mask: int, fields: Sequence[Field]) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """Yields (flags, payload, kwargs) for every flags byte that sets only bits in valid_mask."""
    for flags in range(256):
        if flags & ~valid_mask:
            continue
        payload = bytes((flags,))
        kwargs: dict[str, Any] = {}
        for condition, fragment, expected in fields:
            if condition is None or flags & condition[0] == condition[1]:
                payload += fragment
                kwargs.update(expected)
        yield flags, payload, kwargs
