"""`twinbench compare DIR_A DIR_B`: the same quantities in two studies, side by side, with
significance — e.g. one study per framework version, the basis for regression tracking.

Records match on task, model, framework, scenario, metric, mode, device and call path. The
change B/A follows the same rules as a comparison between frameworks
(``analysis.comparisons.compare_records``): tested across processes when both studies ran at
least 3 worker processes per measurement, else a ratio with its interval and no verdict
("untested"): one process per study cannot tell a regression from process-to-process noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from twinbench.analysis.comparisons import compare_records
from twinbench.results.schema import Record
from twinbench.scenarios import compared

Key = tuple[str, str, str, str, str, str, str, str]


@dataclass
class Change:
    key: Key  # task, model, framework, scenario, metric, mode, device, call path
    unit: str
    better: str | None
    a: Record
    b: Record
    ratio: float | None  # median(B) / median(A)
    ratio_ci95: tuple[float, float] | None
    p_value: float | None
    significant: bool | None
    verdict: str  # "improved" | "regressed" | "no significant difference" | "untested" | "changed"


def _key(r: Record) -> Key:
    """One quantity of one framework, on one call path (a path is compared with itself)."""
    return (r.task, r.model, r.framework, r.scenario, r.name, r.mode, r.device,
            r.extra.get("call_path", ""))


def _index(records: list[Record]) -> dict[Key, Record]:
    return {_key(r): r for r in records if r.status == "ok" and r.value is not None
            and compared(r.scenario)}


def verdict(ratio: float | None, significant: bool | None, better: str | None) -> str:
    if ratio is None or significant is None:
        return "untested"
    if not significant:
        return "no significant difference"
    if better is None:
        return "changed"
    return "improved" if (ratio > 1) == (better == "higher") else "regressed"


def compare_studies(a: list[Record], b: list[Record]) -> tuple[list[Change], list[Key],
                                                                 list[Key]]:
    """(changes for keys in both, keys only in A, keys only in B)."""
    ia, ib = _index(a), _index(b)
    out = []
    for k in sorted(set(ia) & set(ib)):
        ra, rb = ia[k], ib[k]
        # the same rules as between frameworks: tested only across >= 3 processes per study
        c = compare_records(rb, ra)
        ratio, ci, p, sig = (c.ratio, c.ratio_ci95, c.p_value, c.significant) if c else \
            (None, None, None, None)
        out.append(Change(k, ra.unit, ra.better, ra, rb, ratio, ci, p, sig,
                          verdict(ratio, sig, ra.better)))
    return out, sorted(set(ia) - set(ib)), sorted(set(ib) - set(ia))


def version_changes(a: list[Record], b: list[Record]) -> list[str]:
    """Per framework, library versions that differ between the two studies."""
    def versions(recs: list[Record]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for r in recs:
            if r.env.get("versions"):
                out.setdefault(r.framework, dict(r.env["versions"]))
        return out

    va, vb = versions(a), versions(b)
    lines = []
    for fw in sorted(set(va) | set(vb)):
        for lib in sorted(set(va.get(fw, {})) | set(vb.get(fw, {}))):
            x, y = va.get(fw, {}).get(lib, "—"), vb.get(fw, {}).get(lib, "—")
            if x != y:
                lines.append(f"{fw}: {lib} {x} → {y}")
    return lines
