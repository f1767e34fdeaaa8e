"""Jittered exponential reconnect backoff as a pure function (the caller supplies the randomness)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Base delay, growth factor, cap and jitter share (0 = none, 1 = full jitter), in seconds."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.cap < self.base or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid backoff policy {self}")


def ceiling(attempt: int, policy: BackoffPolicy) -> float:
    """The un-jittered delay before retry number `attempt` (0-based): base * factor**attempt, capped."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # Stop growing once past the cap so huge attempt numbers never overflow.
    delay = policy.base
    for _ in range(attempt):
        delay *= policy.factor
        if delay >= policy.cap:
            return policy.cap
    return min(delay, policy.cap)


def backoff_delay(attempt: int, policy: BackoffPolicy, rand: float) -> float:
    """Delay before retry `attempt`: the ceiling minus a jittered share; `rand` is uniform in [0, 1)."""
    if not 0.0 <= rand < 1.0:
        raise ValueError("rand must be in [0, 1)")
    top = ceiling(attempt, policy)
    return top * (1.0 - policy.jitter * rand)
