"""Composite studies (``study.COMPOSITES``): parts run one after another, reported as one.

Each part is a normal study run by :func:`twinbench.runner.orchestrate.run_study` into
``OUT/<part>/`` (its own results.sqlite, results.jsonl, logs: resumable and readable
alone). ``OUT/composite.json`` holds the parts as started and which of them started and
finished, so ``twinbench run --resume OUT`` skips finished parts, continues the interrupted one
and starts the rest. A part with failed jobs does not stop the others. At the end the records of
every part are merged (:func:`combine`: no quantity may come from two parts) into
``OUT/results.jsonl``; the CLI then renders each part's report and the merged one
(``OUT/report.html``, ``OUT/report.md``: twinbench.outputs).

:func:`combine` and :func:`read_folder` also serve ``twinbench report DIR DIR... --out OUT``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twinbench.atomic import write_atomic
from twinbench.errors import UserError
from twinbench.plan import Job
from twinbench.preflight import preflight
from twinbench.results.export import read_jsonl, write_jsonl
from twinbench.results.schema import Record
from twinbench.runner.local import JobOutcome
from twinbench.runner.orchestrate import run_study
from twinbench.study import Study

COMPOSITE_FILE = "composite.json"
Quantity = tuple[str, str, str, str, str, str, str]
QUANTITY_FIELDS = ("task", "model", "framework", "scenario", "metric", "mode", "device")


def quantity(r: Record) -> Quantity:
    """What a record measured: the same quantity twice is one value too many in a report."""
    return (r.task, r.model, r.framework, r.scenario, r.name, r.mode, r.device)


def describe_quantity(q: Quantity) -> str:
    return ", ".join(f"{k} {v}" for k, v in zip(QUANTITY_FIELDS, q, strict=True))


def combine(sources: list[tuple[str, list[Record]]]) -> list[Record]:
    """The records of several sources (name, records) as one list; a quantity measured in two
    sources is a one-line UserError naming both: a merge never keeps one and drops the other."""
    owner: dict[Quantity, str] = {}
    for name, records in sources:
        mine = {quantity(r) for r in records}
        for q in sorted(mine):
            if q in owner:
                raise UserError(f"{owner[q]} and {name} both measured the same quantity "
                                f"({describe_quantity(q)}); a merged report keeps one value per "
                                "quantity, so leave one of them out")
        owner.update(dict.fromkeys(mine, name))
    return [r for _, records in sources for r in records]


def read_folder(folder: Path) -> list[Record]:
    """The records of a results folder, or a one-line UserError."""
    path = folder / "results.jsonl"
    if not path.is_file():
        raise UserError(f"{path} not found: pass a folder written by `twinbench run --out DIR`")
    return read_jsonl(path)


@dataclass
class PartResult:
    name: str
    outdir: Path
    jobs: int
    failed: int
    wall_s: float
    skipped: bool = False  # finished in an earlier invocation: not run again


@dataclass
class CompositeResult:
    name: str
    outdir: Path
    parts: list[PartResult] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    wall_s: float = 0.0
    merge_error: str | None = None  # the merge failed; every part's results are saved

    @property
    def failed(self) -> int:
        """Jobs that did not succeed, over every part."""
        return sum(p.failed for p in self.parts)


def _state_path(outdir: Path) -> Path:
    return outdir / COMPOSITE_FILE


def is_composite(outdir: Path) -> bool:
    return _state_path(outdir).is_file()


def _read_state(outdir: Path) -> dict[str, Any]:
    path = _state_path(outdir)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not isinstance(state.get("parts"), list):
            raise ValueError("no list of parts")
        return state
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is damaged ({str(exc).splitlines()[0]}); start a new run "
                        "with --out") from exc


def _write_state(outdir: Path, state: dict[str, Any]) -> None:
    write_atomic(_state_path(outdir), json.dumps(state, indent=2))


def load_resumable_composite(outdir: Path) -> tuple[str, list[tuple[str, Study]]]:
    """The composite a folder was started with (its parts as started), for `run --resume`."""
    state = _read_state(outdir)
    try:
        parts = [(str(p["name"]), Study.model_validate(p["study"])) for p in state["parts"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{_state_path(outdir)} is damaged ({str(exc).splitlines()[0]}); start "
                        "a new run with --out") from exc
    return str(state.get("composite", outdir.name)), parts


def check_composite(name: str, parts: list[tuple[str, Study]], outdir: Path,
                    resume: bool = False) -> None:
    """Before any job: OUT is not another study's folder, and every part passes preflight
    (frameworks installed, data sets readable, OUT/<part> writable and not another study's)."""
    if (outdir / "study.json").is_file():
        raise UserError(f"{outdir} holds a single study (study.json); choose another --out for "
                        f"the composite {name!r}")
    started: list[str] = []
    if is_composite(outdir):
        state = _read_state(outdir)
        if state.get("composite") != name:
            raise UserError(f"{outdir} holds another composite ({state.get('composite')}); "
                            f"choose another --out for {name!r}, or continue that one with "
                            f"`twinbench run --resume {outdir}`")
        started = list(state.get("started", [])) if resume else []
    for part, study in parts:
        preflight(study, outdir / part, None, resume=part in started)


def run_composite(
    name: str, parts: list[tuple[str, Study]], outdir: Path,
    on_part: Callable[[int, int, str, Study, bool], None] | None = None,
    on_start: Callable[[Job, int, int], None] | None = None,
    on_done: Callable[[JobOutcome], None] | None = None,
    resume: bool = False,
) -> CompositeResult:
    """Run every part (with ``resume``: skip the finished ones, continue the started one), then
    write the merged results.jsonl and report into ``outdir``.

    ``on_part(i, n, part, study, skipped)`` is called before each part (i from 0). Exceptions of
    ``run_study`` (Ctrl-C, a full disk) propagate; the parts finished before them are marked.
    """
    t0 = time.perf_counter()
    outdir.mkdir(parents=True, exist_ok=True)
    if resume and is_composite(outdir):
        state = _read_state(outdir)
    else:  # a new composite: every part starts afresh, even over an older run's folders
        state = {"composite": name, "parts": [{"name": p, "study": s.model_dump(mode="json")}
                                              for p, s in parts],
                 "started": [], "finished": {}}
        _write_state(outdir, state)
    started: list[str] = state.setdefault("started", [])
    finished: dict[str, dict[str, Any]] = state.setdefault("finished", {})
    result = CompositeResult(name, outdir)
    sources: list[tuple[str, list[Record]]] = []
    for i, (part, study) in enumerate(parts):
        pdir = outdir / part
        done = finished.get(part)
        if done is not None and not (pdir / "results.jsonl").is_file():
            done = None  # its results were removed: the part runs again (stored jobs kept)
        if on_part:
            on_part(i, len(parts), part, study, done is not None)
        if done is not None:
            result.parts.append(PartResult(part, pdir, int(done.get("jobs", 0)),
                                           int(done.get("failed", 0)),
                                           float(done.get("wall_s", 0.0)), skipped=True))
            sources.append((str(pdir), read_folder(pdir)))
            continue
        again = part in started  # interrupted in an earlier invocation: continue its run
        if not again:
            started.append(part)
            _write_state(outdir, state)
        res = run_study(study, pdir, None, on_start, on_done, resume=again)
        pr = PartResult(part, pdir, len(res.outcomes), len(res.failed), res.wall_s)
        result.parts.append(pr)
        finished[part] = {"jobs": pr.jobs, "failed": pr.failed, "wall_s": round(pr.wall_s, 1)}
        _write_state(outdir, state)
        sources.append((str(pdir), res.records))
    result.wall_s = time.perf_counter() - t0
    try:  # a failed merge must not hide that every part's results are saved
        result.records = combine(sources)
        write_jsonl(outdir / "results.jsonl", result.records)
    except Exception as exc:  # noqa: BLE001 - any failure here is reported in one line
        first = (str(exc).splitlines() or [""])[0]
        result.merge_error = f"{type(exc).__name__}: {first}"
    return result
