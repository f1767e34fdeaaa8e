"""Recently written patient states kept as objects, so the worker neither decodes its own table bytes again nor
loses the engine's in-memory fold trail (a settling reading is then not scored a second time).

A hit needs the table to hold exactly the bytes this cache remembered for the patient: the state codec is
deterministic, so equal bytes are an equal state, whoever wrote them (another worker before a rebalance, a
changelog recovery). Anything else is decoded as usual. Bounded (least recently used first out).
"""

from __future__ import annotations

from collections import OrderedDict

from monitor import engine


class StateCache:
    """{patient key: (table bytes, state)} for the last `size` patients a worker wrote; counts hits and misses."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, tuple[bytes, engine.MonitorState]] = OrderedDict()

    def load(self, key: str, raw: bytes | None) -> engine.MonitorState | None:
        """engine.load_state(raw), answered from memory when raw is what remember() last saw for this key."""
        item = self._items.get(key)
        if item is not None and raw is not None and (item[0] is raw or item[0] == raw):
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]
        self.misses += 1
        return engine.load_state(raw)

    def remember(self, key: str, raw: bytes, state: engine.MonitorState) -> None:
        """Notes the state just written to the table as `raw` (engine.dump_state(state))."""
        self._items[key] = (raw, state)
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def forget(self, key: str) -> None:
        """Drops a patient (e.g. erased)."""
        self._items.pop(key, None)
