"""The load meter counts a worker's unreaped descendants (Chromium's renderers) as its own CPU.

A child that never waits for its grandchild loses the grandchild's CPU time from the rusage the
orchestrator reaps; without ``sample_tree`` that time reads as other processes' load and puts a
false "other load" warning on every export-web record (seen: 18-28 % on an idle machine).
"""

from __future__ import annotations

import subprocess
import sys
import time

from twinbench.runner.local import WATCH_INTERVAL_S, LoadMeter

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.5: pass"
# the child starts a grandchild that burns ~1.5 s of CPU, never waits for it, and exits after it
CHILD = f"""
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", {BURN!r}])
time.sleep(2.5)
os._exit(0)
"""


def _watched(code: str) -> tuple[LoadMeter, LoadMeter]:
    """Run ``code`` in a child; two meters over the same window, only the first samples it."""
    sampled, blind = LoadMeter(), LoadMeter()
    proc = subprocess.Popen([sys.executable, "-c", code])
    while proc.poll() is None:
        sampled.sample_tree(proc.pid)
        time.sleep(WATCH_INTERVAL_S)
    proc.wait()
    return sampled, blind


def test_cpu_of_an_unreaped_grandchild_is_the_workers_not_other_load():
    sampled, blind = _watched(CHILD)
    # the grandchild's 1.5 s (at least the 1 s seen before its last sample) is the worker's
    # own in the sampled meter; the blind meter never hears of it
    assert sampled.own_cpu() - blind.own_cpu() >= 1.0
    assert blind.fractions()["other"] > sampled.fractions()["other"]


def test_a_reaped_child_is_not_counted_twice():
    """A child reaped normally is in rusage AND in the samples: own is the larger, not the sum."""
    sampled, blind = _watched(BURN)
    assert sum(sampled._seen.values()) >= 1.0  # it did see the child work
    assert abs(sampled.own_cpu() - blind.own_cpu()) < 0.3


def test_load_is_judged_over_the_timed_windows_only():
    """Busy time of other processes during import or compilation must not flag a timing, and a
    burst inside the timed window must not be diluted by the quiet rest of the job."""
    import os

    cores = os.cpu_count() or 1
    m = LoadMeter()
    # (monotonic s, system busy s, steal s, the worker's own CPU s), cumulative
    m.series = [(0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 0.0, 0.0), (2.0, 1.0, 0.0, 0.0),
                (3.0, 3.0, 0.5, 1.0)]
    assert m.fractions_in([(1.0, 2.0)]) == {"other": 0.0, "steal": 0.0}  # quiet window
    assert m.fractions_in([(0.0, 1.0)])["other"] == round(1.0 / cores, 3)  # the burst
    both = m.fractions_in([(0.5, 1.0), (2.0, 2.5)])  # halves of two intervals
    assert both["other"] == round((0.5 * 1.0 + 0.5 * 1.0) / (1.0 * cores), 3)
    assert both["steal"] == round(0.5 * 0.5 / (1.0 * cores), 3)
    assert m.fractions_in([(5.0, 6.0)]) is None  # no sampled interval overlaps
