"""Ecosystem claims: C11 (model availability) and C12 (the deadline recommendation)."""

from __future__ import annotations

from typing import Any

from twinbench.analysis.claims.base import (
    CLAIM_TEXT,
    CONFIRMED,
    INCONCLUSIVE,
    NOT_MEASURED,
    REFUTED,
    ClaimResult,
    Evidence,
    how_to_measure,
)


def _c11_query(query: str, results: list[Any]) -> tuple[str, str, list[str]]:
    """One query: ("far" | "comparable" | "open" | "failed", its short text, evidence lines);
    "open": a count is a lower bound, "failed": a registry was not searched."""
    from twinbench.frameworks.base import FAMILIES
    from twinbench.zoos import far_more, support

    sup = support(results)
    one, two = (sup[f] for f in FAMILIES)
    lines = [f"{query}: {one.text()} vs {two.text()}"]
    lines += [f"  {query}: {z.zoo} {z.version} also loads checkpoints of "
              f"{', '.join(z.bridges)} (converted on load, not counted)"
              for z in results if z.bridges]
    for a, b in ((one, two), (two, one)):
        if far_more(a, b):
            bound = "" if a.exact else "≥ "
            return "far", f"{query} ({a.label} {bound}{a.pretrained} vs {b.pretrained})", lines
    if one.exact and two.exact:
        return "comparable", f"{query} ({one.pretrained} vs {two.pretrained})", lines
    failed = sorted({f for s in (one, two) for f in s.failed})
    why = failed + sorted({f"{s.label} ≥ {s.pretrained}: {z} lists example checkpoints only"
                           for s in (one, two) for z in s.open_zoos})
    return "failed" if failed else "open", f"{query} ({'; '.join(why)})", lines


def c11(ev: Evidence) -> ClaimResult:
    """Far more support = one family's registries list pretrained weights and the other's none,
    or at least ``zoos.FAR`` times as many pretrained variants (checkpoints, tags, presets).
    Confirmed when one query shows it (the claim is about "a specific model"), refuted when
    every query is comparable, inconclusive when a failed registry, or one that lists only
    example checkpoints (transformers: the Hub has the rest), leaves a query open."""
    from twinbench.frameworks.base import FAMILIES, FRAMEWORKS, of_family
    from twinbench.zoos import FAMILY_LABEL, FAR

    res = ClaimResult("C11", CLAIM_TEXT["C11"], NOT_MEASURED, "",
                      missing="twinbench report DIR (searches the model registries pinned in "
                      "requirements-nodeps.lock, docs/models.md)")
    if not ev.zoos:
        res.summary = "no zoo search was run for this report"
        return res
    found: dict[str, list[str]] = {"far": [], "comparable": [], "open": [], "failed": []}
    for query, results in ev.zoos.items():
        outcome, text, lines = _c11_query(query, results)
        found[outcome].append(text)
        res.evidence += lines
    res.evidence.append(
        "counted: distinct pretrained variants each registry lists offline (timm pretrained "
        "tags, keras_hub presets, keras.applications default weights, checkpoints named in "
        f"transformers' sources); far more = weights on one side only or ≥ {FAR:g}×; sides: "
        + "; ".join(f"{FAMILY_LABEL[f]} for {', '.join(of_family(FRAMEWORKS, f))}"
                    for f in FAMILIES))
    res.missing = ""
    if found["far"]:
        res.verdict = CONFIRMED
        res.summary = "far more pretrained support on one side for " + ", ".join(found["far"])
    elif not (found["open"] or found["failed"]):
        res.verdict = REFUTED
        res.summary = ("every query has comparable support (within "
                       f"{FAR:g}×, or weights on neither side): " + ", ".join(found["comparable"]))
    else:
        res.verdict = INCONCLUSIVE
        res.summary = ("no query shows far more support in what the registries list; open: "
                       + ", ".join(found["failed"] + found["open"]))
        if found["failed"]:
            res.missing = "make setup (installs the pinned registries), then twinbench report DIR"
    return res


def c12(ev: Evidence) -> ClaimResult:
    """Keras for a deadline: ``recommend`` with the single priority ``deadline`` (time to a
    working model for a 60-minute job, and code brevity). Confirmed when a Keras-family
    framework ranks first with its score interval clear of every other framework's; refuted
    when a PyTorch-family one does; inconclusive while the intervals overlap."""
    from twinbench.analysis.recommend import Priority, recommend
    from twinbench.frameworks.base import spec

    res = ClaimResult("C12", CLAIM_TEXT["C12"], NOT_MEASURED, "",
                      missing=how_to_measure("startup"))
    if not any(ev.ok(s) for s in ("startup", "accuracy", "train")):
        res.summary = "no startup, train or accuracy records (time to a working model)"
        return res
    if not (ev.side("keras") and ev.side("pytorch")):
        res.summary = "the study has frameworks of one family only: nothing to choose between"
        return res
    rec = recommend(ev.records, [Priority("deadline")], ev.brevity, rows=ev.rows)
    rank = rec.ranking()
    res.evidence = [f"{fw}: deadline score {s:.2f} [{rec.interval(fw)[0]:.2f}, "
                    f"{rec.interval(fw)[1]:.2f}]" for fw, s in rank]
    res.evidence += rec.criteria[0].lines[:24]
    res.missing = "; ".join(rec.criteria[0].missing[:2])
    top, s1 = rank[0]
    family = spec(top).family
    if not rec.resolved:
        res.verdict = INCONCLUSIVE
        res.summary = (f"{top} ranks first for a deadline ({s1:.2f}) but its score interval "
                       "overlaps another framework's: not resolved")
        return res
    res.verdict = CONFIRMED if family == "keras" else REFUTED
    second = f" vs {rank[1][0]} {rank[1][1]:.2f}" if len(rank) > 1 else ""
    res.summary = (f"{top} ({family} family) ranks first for a deadline ({s1:.2f}{second}), "
                   f"its interval clear of the others': time to a working model for a "
                   f"{rec.job_minutes:g}-minute job (one-off startup seconds + training speed) "
                   "and code brevity")
    return res
