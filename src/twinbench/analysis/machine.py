"""The machine a report speaks for, in one line: "2-core CPU (AMD EPYC, AVX2), 23.5 GiB, no GPU".

Read from the records' ``env`` (``twinbench.measure.env.fingerprint``). Nothing is assumed: "no
GPU" is said only when the fingerprint says none was visible (``gpus == []``); records written
before twinbench recorded it say "GPU not recorded". Records from several machines (a report
merged from folders measured apart) list every machine: "mixed machines: A; B".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from twinbench.results.schema import Record

NOT_RECORDED = "machine not recorded"


def _cores(env: dict[str, Any]) -> str:
    """The machine's CPUs: ``cores`` (online CPUs), or the cgroup's share of them when smaller
    (``cpus_available``). Not ``affinity``: the runner pins each worker to the study's threads."""
    cores, usable = env.get("cores"), env.get("cpus_available")
    if isinstance(usable, int) and isinstance(cores, int) and usable < cores:
        return f"{usable}-core (of {cores})"  # a container's share of a bigger machine
    return f"{cores}-core" if isinstance(cores, int) else "?-core"


def _gpus(env: dict[str, Any]) -> str:
    if "gpus" not in env or not isinstance(env["gpus"], list):
        return "GPU not recorded"
    names: list[str] = [str(g) for g in env["gpus"]]
    if not names:
        return "no GPU"
    counts = Counter(names)
    what = ", ".join(f"{n}× {name}" if n > 1 else name for name, n in counts.items())
    return f"{len(names)} GPU{'s' if len(names) > 1 else ''} ({what})"


def describe(env: dict[str, Any]) -> str:
    """One machine from one fingerprint."""
    cpu = str(env.get("cpu") or "").strip()
    detail = ", ".join(x for x in (cpu if cpu and cpu != "unknown" else "",
                                   str(env.get("simd") or "")) if x)
    parts = [f"{_cores(env)} CPU" + (f" ({detail})" if detail else "")]
    mem = env.get("memory_gib")
    if isinstance(mem, int | float) and mem > 0:
        parts.append(f"{mem:g} GiB")
    parts.append(_gpus(env))
    return ", ".join(parts)


def machines(records: Iterable[Record]) -> list[str]:
    """Each distinct machine of the records, most records first."""
    seen = Counter(describe(r.env) for r in records if r.env)
    return [m for m, _ in seen.most_common()]


def machine_summary(records: Iterable[Record]) -> str:
    """The line a verdict opens with: one machine, or "mixed machines: A; B"."""
    found = machines(records)
    if not found:
        return NOT_RECORDED
    if len(found) == 1:
        return found[0]
    return "mixed machines: " + "; ".join(found)


def speaks_for(summary: str) -> str:
    """The verdict's opening sentence for a ``machine_summary``."""
    if summary == NOT_RECORDED:
        return "This verdict does not say which machine it speaks for (no environment recorded)."
    if summary.startswith("mixed machines: "):
        listed = summary.removeprefix("mixed machines: ")
        return f"This verdict speaks for several machines ({listed}); its numbers may mix them."
    return (f"This verdict speaks for one machine: {summary}. Other hardware may rank the "
            "frameworks differently.")
