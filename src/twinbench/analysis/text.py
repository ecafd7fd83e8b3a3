"""How analysis values read as text: numbers with units, intervals, "N× worse", and the
legend every renderer prints beside them (one wording, one place)."""

from __future__ import annotations

from twinbench.measure.stats import FEW_VALUES, LOADED, WITHIN, Comparison
from twinbench.results.schema import Record


def not_reached(r: Record) -> bool:
    """A measured "did not happen" (accuracy's time-to-target past its budget), not a gap."""
    return r.value is None and r.extra.get("reached") is False


def fmt_value(r: Record, unit: str = "") -> str:
    """A record's value as the tables show it: "not reached" where that is the result."""
    return "not reached" if not_reached(r) else fmt(r.value, unit)


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    a = abs(value)
    if a != a:  # nan
        return "—"
    if a == 0:
        s = "0"
    elif a >= 1000:
        s = f"{value:,.0f}"
    elif a >= 100:
        s = f"{value:.1f}"
    elif a >= 1:
        s = f"{value:.2f}"
    elif a >= 0.01:
        s = f"{value:.3f}"
    else:
        s = f"{value:.2e}"
    return f"{s} {unit}".strip()


# one wording for every renderer's "these were not tested" line
NOT_TESTED = ("not tested across processes (one worker process, single values, or too few "
              "processes with a value)")


def fmt_worse(c: Comparison, unit: str = "") -> str:
    """"N× worse [lo, hi]" — or, for values at or below 0 where a ratio means nothing, the
    difference to the best with its interval."""
    if c.difference is not None:
        text = f"{fmt(c.difference, unit)} vs best"
        if c.difference_ci95:
            text += f" [{fmt(c.difference_ci95[0])}, {fmt(c.difference_ci95[1])}]"
    else:
        text = f"{c.ratio:.2f}× worse"
    if c.ratio_ci95:
        text += f" [{c.ratio_ci95[0]:.2f}, {c.ratio_ci95[1]:.2f}]"
    if c.significant is False:
        text += " n.s."
    elif c.basis == WITHIN:
        text += " (within-process only)"
    elif c.basis == LOADED:
        text += " (other load: untested)"
    elif c.basis == FEW_VALUES:
        text += " (too few processes with a value: untested)"
    return text


LEGEND = ("Values are medians with bootstrap 95% intervals (hierarchical over worker processes "
          "when there are several); 'N× worse [lo, hi]' is the ratio to the best with its "
          "interval; a difference is tested only across >= 3 worker processes per framework "
          "(Welch t on the logs of the per-process values, 5%): 'n.s.' = not significant; "
          "'(within-process only)' = one process, never called significant; '(other load: "
          "untested)' = other processes used over 10% of the CPU during its timed windows, "
          "kept out of verdicts.")


def fmt_ci(r: Record) -> str:
    if r.ci95 is None:
        return ""
    return f"[{fmt(r.ci95[0])}, {fmt(r.ci95[1])}]"
