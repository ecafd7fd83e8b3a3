"""The worker's own memory, phase by phase (measure.memory): VmHWM resets between phases."""

from __future__ import annotations

import numpy as np

from twinbench.measure import memory


def test_the_peak_resets_to_the_current_rss_and_rises_with_what_a_phase_allocates():
    assert memory.reset_peak()  # Linux >= 4.0: writing 5 to /proc/self/clear_refs
    before = memory.peak_mb()
    assert before is not None and abs(before - memory.rss_mb()) < 20
    block = np.ones(50 * 2**20 // 2, dtype=np.float32)  # 100 MiB, every page touched
    held = memory.peak_mb()
    assert held - before > 90
    del block
    assert memory.reset_peak()
    assert memory.peak_mb() < held - 90  # the next phase starts from what is resident now
