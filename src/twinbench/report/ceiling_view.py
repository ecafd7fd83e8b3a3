"""The machine ceiling's view: its rows stay in the generic tables, with the peak note under
them; no charts and no summary wins (it measures the machine, not the twins)."""

from __future__ import annotations

from twinbench.analysis.ceiling import peak_note
from twinbench.report.views import View

VIEW = View(generic_charts=False, in_summary=False, note=peak_note)
