"""`bench_common.interleaved_best_seconds`: a contender whose threads keep spinning after its
call returns (PyTorch's OpenMP pool on a 2-core machine) must not slow the contender timed
after it. Simulated with sleeps: the "spinner" leaves a 60 ms tail that the next call of
anyone pays first."""

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_common  # noqa: E402

TAIL = 0.06
WORK = 0.005


def contenders():
    state = {"tail": 0.0, "calls": {"spinner": 0, "quiet": 0}}

    def call(name, leaves_tail):
        def run():
            time.sleep(state["tail"])  # what the previous call left running
            state["tail"] = 0.0
            time.sleep(WORK)
            state["tail"] = TAIL if leaves_tail else 0.0
            state["calls"][name] += 1
        return run

    # The spinner runs just before the quiet contender in every round.
    return {"spinner": call("spinner", True), "quiet": call("quiet", False)}, state


def test_a_settling_call_absorbs_the_previous_contenders_tail():
    fns, state = contenders()
    best = bench_common.interleaved_best_seconds(fns, rounds=3, warmup=1, settle=1)
    assert best["quiet"] == pytest.approx(WORK, abs=0.02)
    assert best["quiet"] < TAIL
    # warmup + (settle + timed) per round, for each contender.
    assert state["calls"] == {"spinner": 1 + 2 * 3, "quiet": 1 + 2 * 3}


def test_without_settling_the_tail_is_timed():
    fns, _ = contenders()
    best = bench_common.interleaved_best_seconds(fns, rounds=3, warmup=1, settle=0)
    assert best["quiet"] >= TAIL
