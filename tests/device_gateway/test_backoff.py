"""Table tests of the reconnect backoff."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_gateway.backoff import BackoffPolicy, backoff_delay, ceiling

POLICY = BackoffPolicy(base=0.5, factor=2.0, cap=10.0, jitter=0.5)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.0, 0.5),  # first retry, no jitter drawn: the base
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (3, 0.0, 4.0),
        (4, 0.0, 8.0),
        (5, 0.0, 10.0),  # 16 capped at 10
        (50, 0.0, 10.0),  # stays at the cap, no overflow
        (10_000, 0.0, 10.0),
        (0, 0.5, 0.375),  # 0.5 * (1 - 0.5 * 0.5)
        (3, 0.5, 3.0),  # 4 * 0.75
        (5, 0.999, 10.0 * (1 - 0.5 * 0.999)),
    ],
)
def test_backoff_table(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, POLICY, rand) == pytest.approx(expected)


def test_full_jitter_can_reach_near_zero() -> None:
    policy = BackoffPolicy(base=1.0, factor=2.0, cap=8.0, jitter=1.0)
    assert backoff_delay(3, policy, 0.999) == pytest.approx(8.0 * 0.001)


@pytest.mark.parametrize("rand", [-0.1, 1.0, 2.0])
def test_rand_out_of_range_is_refused(rand: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, POLICY, rand)


@pytest.mark.parametrize(
    "kwargs",
    [{"base": 0.0}, {"factor": 0.5}, {"cap": 0.1, "base": 1.0}, {"jitter": 1.5}, {"jitter": -0.1}],
)
def test_invalid_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(**kwargs)


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError):
        ceiling(-1, POLICY)


@given(st.integers(min_value=0, max_value=200), st.floats(min_value=0.0, max_value=0.999999))
def test_delay_is_bounded_and_ceiling_monotonic(attempt: int, rand: float) -> None:
    delay = backoff_delay(attempt, POLICY, rand)
    assert POLICY.base * (1 - POLICY.jitter) <= delay <= POLICY.cap
    assert ceiling(attempt + 1, POLICY) >= ceiling(attempt, POLICY)
