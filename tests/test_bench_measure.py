"""How `make bench` measures another process: its CPU time to the nanosecond, exited threads included."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from benchmarks.service import _cpu_seconds

BUSY_THREAD_THEN_WAIT = """
import sys, threading, time
def spin():
    end = time.thread_time() + 0.2
    while time.thread_time() < end:
        pass
t = threading.Thread(target=spin); t.start(); t.join()
print("spun", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process CPU clock is read as Linux numbers it")
def test_the_service_cpu_is_read_finer_than_clock_ticks_and_counts_exited_threads() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", BUSY_THREAD_THEN_WAIT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "spun\n"  # the busy thread has exited
        precise = _cpu_seconds(child.pid)
        with open(f"/proc/{child.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        assert precise >= 0.2  # the exited thread's 0.2 s are in
        assert abs(precise - ticks) < 0.05
        assert round(precise * 1e9) % 10_000_000 != 0  # finer than a 10 ms tick (chance of a miss: 1e-7)
        time.sleep(0.05)
        assert _cpu_seconds(child.pid) - precise < 0.01  # a waiting process costs (almost) nothing
    finally:
        child.kill()
        child.wait()


def test_a_pass_splits_the_services_cpu_by_the_steps_its_worker_reports() -> None:
    from benchmarks.service import STEPS, _one_pass, _serving, _split, make_traces

    batches = make_traces(40)
    with _serving() as (proc, exporter, metrics_port):
        cpu, _, steps = _one_pass(proc, exporter, metrics_port, batches)
    assert sorted(steps) == sorted(STEPS)  # every step, read off the live /metrics
    assert steps["score"] > steps["read"] > 0.0 and steps["deliver"] > 0.0
    split = _split(cpu, steps, 40)
    assert sum(split.values()) == pytest.approx(cpu / 40 * 1e6)  # the rest of the process makes up the whole
    assert split["outside_worker"] > 0.0  # gRPC and decoding run on other threads
