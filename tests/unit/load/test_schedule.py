"""Schedule generation is seeded, identical across contenders and statistically what it claims."""

from __future__ import annotations

import itertools
import statistics

from harness.config import LoadProfile, Stage
from harness.load import build_schedule, prompt_order, rate_at, schedule_digest


def test_same_seed_same_schedule_other_seed_differs() -> None:
    load = LoadProfile(rate=5, duration=30)
    a, b = build_schedule(load, 10, 7), build_schedule(load, 10, 7)
    assert a == b and schedule_digest(a) == schedule_digest(b)
    assert schedule_digest(build_schedule(load, 10, 8)) != schedule_digest(a)


def test_times_sorted_within_duration_and_seq_dense() -> None:
    s = build_schedule(LoadProfile(rate=20, duration=10), 3, 1)
    times = [r.t_intended for r in s]
    assert times == sorted(times) and times[0] >= 0 and times[-1] < 10
    assert [r.seq for r in s] == list(range(len(s)))


def test_constant_rate_is_exact() -> None:
    s = build_schedule(LoadProfile(arrival="constant", rate=4, duration=5), 3, 1)
    assert len(s) == 20
    gaps = {round(b.t_intended - a.t_intended, 6) for a, b in itertools.pairwise(s)}
    assert gaps == {0.25}


def test_poisson_interarrivals_exponential() -> None:
    s = build_schedule(LoadProfile(arrival="poisson", rate=50, duration=200), 5, 3)
    gaps = [b.t_intended - a.t_intended for a, b in itertools.pairwise(s)]
    mean = statistics.fmean(gaps)
    cv = statistics.pstdev(gaps) / mean
    assert abs(len(s) - 10_000) < 4 * 100  # Poisson count: sd = sqrt(10000)
    assert abs(mean - 0.02) < 0.001
    assert abs(cv - 1.0) < 0.05  # exponential: coefficient of variation 1


def test_gamma_burstiness_raises_variation() -> None:
    bursty = build_schedule(LoadProfile(arrival="gamma", burstiness=0.25, rate=50, duration=200), 5, 3)
    gaps = [b.t_intended - a.t_intended for a, b in itertools.pairwise(bursty)]
    cv = statistics.pstdev(gaps) / statistics.fmean(gaps)
    assert abs(statistics.fmean(gaps) - 0.02) < 0.002
    assert abs(cv - 2.0) < 0.2  # gamma shape k: cv = 1/sqrt(k)


def test_ramp_stage_integrates_rate() -> None:
    load = LoadProfile(
        arrival="constant",
        duration=20,
        stages=[Stage(duration=10, rate=10, ramp=True), Stage(duration=10, rate=2)],
    )
    s = build_schedule(load, 4, 1)
    first = [r for r in s if r.t_intended < 10]
    second = [r for r in s if r.t_intended >= 10]
    assert len(first) == 50  # ∫0..10 t dt = 50
    assert len(second) == 20
    assert rate_at(load, 5) == 5.0 and rate_at(load, 15) == 2.0


def test_max_requests_caps() -> None:
    assert len(build_schedule(LoadProfile(rate=100, duration=60, max_requests=7), 3, 1)) == 7


def test_prompt_order_uses_every_prompt_evenly() -> None:
    order = prompt_order(5, 50, 9)
    assert sorted(order) == sorted(list(range(5)) * 10)
    assert order == prompt_order(5, 50, 9) and order != prompt_order(5, 50, 10)


def test_sweep_steps_rate_and_sets_duration() -> None:
    from harness.config import Sweep

    load = LoadProfile(arrival="constant", sweep=Sweep(start=1, end=4, steps=4, step_duration=5))
    assert load.duration == 20
    s = build_schedule(load, 3, 1)
    per_step = [sum(1 for r in s if 5 * k <= r.t_intended < 5 * (k + 1)) for k in range(4)]
    assert per_step == [5, 10, 15, 20]
    assert [rate_at(load, 5 * k + 1) for k in range(4)] == [1.0, 2.0, 3.0, 4.0]


def test_sweep_and_stages_conflict_and_duration_must_match() -> None:
    import pydantic
    import pytest

    from harness.config import Sweep

    with pytest.raises(pydantic.ValidationError, match="either stages or sweep"):
        LoadProfile(sweep=Sweep(start=1, end=2, steps=2, step_duration=1), stages=[Stage(duration=1, rate=1)])
    with pytest.raises(pydantic.ValidationError, match="duration must equal"):
        LoadProfile(duration=7, sweep=Sweep(start=1, end=2, steps=2, step_duration=1))
    with pytest.raises(pydantic.ValidationError, match="no measured window"):
        LoadProfile(duration=10, warmup=6, cooldown=4)
