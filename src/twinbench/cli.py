"""The `twinbench` command line: run, show, list, doctor.

Exit codes: 0 every job succeeded; 1 the study completed but some jobs failed (results are still
written and the failures listed); 2 bad input (one line on stderr, no traceback unless --debug).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from twinbench.errors import Stopped, UserError

app = typer.Typer(
    help="Compare PyTorch and Keras 3 on twin models: same architecture, same weights, same data "
    "order, proven to compute the same function, measured in isolated worker processes.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err = Console(stderr=True)

ListOpt = Annotated[list[str] | None, typer.Option(
    help="Comma list or repeated flag; overrides the study file.", show_default=False)]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """twinbench replaces framework opinions with measurements."""


@app.command()
def run(
    study_file: Annotated[Path | None, typer.Argument(
        help="Study TOML file (see docs/study.md). Without one, --preset is used.",
        show_default=False)] = None,
    preset: Annotated[str | None, typer.Option(
        # every key of study.PRESETS (tests/test_export_web_failures.py checks; importing study
        # here would slow every command by its pydantic import)
        help="Built-in study: quick, zoo, detection, backends, latency, precise, mobile, web, "
        "tiny, profile, distributed (C9: 1 vs 2 processes, torch pipelines, ~18 min), serve "
        "(C8: HTTP serving of every export under open-loop load, ~10 min); or the "
        "composite verdict (several studies, one report: every claim this machine can "
        "measure, ~27 min on 2 cores; `twinbench list`).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Results folder (results.jsonl, results.sqlite, report.html, logs/). "
        "Default: runs/<study name>.")] = None,
    task: ListOpt = None,
    model: ListOpt = None,
    framework: ListOpt = None,
    scenario: ListOpt = None,
    mode: Annotated[list[str] | None, typer.Option(
        help="out-of-box (each framework's documented default call paths), tuned (every "
        "documented path and knob: torch.compile, XLA, steps_per_execution ...; the best one "
        "speaks for the framework), or both: --mode out-of-box,tuned.",
        show_default=False)] = None,
    threads: Annotated[int | None, typer.Option(
        help="Intra- and inter-op threads, the same for every framework.")] = None,
    size: Annotated[str | None, typer.Option(help="Model size (see `twinbench list`).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds before a job is killed.")] = None,
    memory_limit: Annotated[float | None, typer.Option(
        help="MiB of resident memory before a job is killed.")] = None,
    device: Annotated[str | None, typer.Option(help="Device to measure on (cpu).")] = None,
    processes: Annotated[int | None, typer.Option(
        help="Worker processes per timed measurement (noise across processes shows).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for weights and data order.")] = None,
    db: Annotated[Path | None, typer.Option(
        help="SQLite results database. Default: OUT/results.sqlite.")] = None,
    dataset: Annotated[str | None, typer.Option(
        help="Data set for the accuracy scenario (default: the task's own).")] = None,
    data_path: Annotated[Path | None, typer.Option(
        help="Folder or .tar.gz of a file data set (cifar10: cifar-10-python.tar.gz).")] = None,
    resume: Annotated[Path | None, typer.Option(
        help="Continue an interrupted study in this folder: only jobs without a result run.",
        show_default=False)] = None,
    no_parity: Annotated[bool, typer.Option(
        "--no-parity", help="Skip the parity checks (numbers are then unverified).")] = False,
) -> None:
    """Run a study: parity checks, then each job in its own worker process.

    Example: [bold]twinbench run --preset quick --framework pytorch,keras-jax --out runs/q[/]
    """
    from twinbench.outputs import render_outputs
    from twinbench.plan import plan
    from twinbench.preflight import preflight
    from twinbench.report.terminal import print_results
    from twinbench.runner.orchestrate import load_resumable, run_study
    from twinbench.study import COMPOSITES, load_study

    if resume is not None:  # the study as it was started; refuse flags it would ignore
        given = {"STUDY_FILE": study_file, "--preset": preset, "--out": out, "--task": task,
                 "--model": model, "--framework": framework, "--scenario": scenario,
                 "--mode": mode,
                 "--threads": threads, "--size": size, "--timeout": timeout,
                 "--memory-limit": memory_limit, "--device": device, "--processes": processes,
                 "--seed": seed, "--dataset": dataset, "--data-path": data_path,
                 "--no-parity": no_parity or None}
        if extra := [k for k, v in given.items() if v is not None]:
            saved = resume / ("composite.json" if (resume / "composite.json").is_file()
                              else "study.json")
            raise UserError(f"--resume continues the study saved in {saved} "
                            f"and cannot apply {', '.join(extra)}; drop them, or start a new "
                            "run with --out")
        if (resume / "composite.json").is_file():
            _run_composite(None, resume, {}, resume=True)
            return
        study, outdir = load_resumable(resume), resume
    elif preset in COMPOSITES:
        # a composite's parts are fixed: flags that change what is measured are refused,
        # flags that change how jobs run apply to every part (docs/study.md)
        given = {"STUDY_FILE": study_file, "--task": task, "--model": model,
                 "--framework": framework, "--scenario": scenario, "--mode": mode,
                 "--size": size, "--processes": processes, "--dataset": dataset,
                 "--data-path": data_path, "--no-parity": no_parity or None, "--db": db}
        if extra := [k for k, v in given.items() if v is not None]:
            raise UserError(f"--preset {preset} runs fixed parts and cannot apply "
                            f"{', '.join(extra)}; drop them (only --out, --threads, --timeout, "
                            "--memory-limit, --seed and --device apply to every part), or run "
                            "a single study such as --preset quick with them")
        _run_composite(preset, out or Path("runs") / preset,
                       {"threads": threads, "timeout_s": timeout, "seed": seed,
                        "memory_limit_mb": memory_limit, "device": device})
        return
    else:
        if study_file is None and preset is None:
            preset = "quick"
        overrides = {"tasks": task, "models": model, "frameworks": framework,
                     "scenarios": scenario, "mode": mode, "threads": threads, "size": size,
                     "timeout_s": timeout, "seed": seed, "parity": False if no_parity else None,
                     "memory_limit_mb": memory_limit, "device": device, "processes": processes,
                     "data_path": str(data_path) if data_path else None,
                     "accuracy": {"dataset": dataset} if dataset else None}
        study = load_study(study_file, preset, overrides)
        outdir = out or Path("runs") / study.name
    preflight(study, outdir, db, resume=resume is not None)
    jobs = plan(study)
    verb = "resuming" if resume else "study"
    console.print(f"[bold]twinbench[/] {verb} [cyan]{escape(study.name)}[/]: {len(jobs)} jobs "
                  f"({', '.join(study.frameworks)} × {', '.join(study.scenarios)}), "
                  f"{study.threads} threads, results in {escape(str(outdir))}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        bar = progress.add_task("starting", total=len(jobs))

        def on_start(job, i, n):
            progress.update(bar, description=f"[cyan]{escape(job.job_id)}[/]")

        def on_done(o):
            progress.console.print(_job_line(o), highlight=False)
            progress.advance(bar)

        try:
            result = run_study(study, outdir, db, on_start, on_done, resume=resume is not None)
        except KeyboardInterrupt:
            raise Stopped(f"interrupted: finished jobs are saved; continue with "
                          f"`twinbench run --resume {outdir}`", exit_code=130) from None
        except sqlite3.OperationalError as exc:  # e.g. "database or disk is full"
            raise Stopped(f"results database error ({exc}); jobs finished before it are "
                          f"saved — fix the cause, then `twinbench run --resume {outdir}`") \
                from exc
        except OSError as exc:
            raise Stopped(f"cannot write results to {outdir}: {exc.strerror}; finished jobs "
                          f"are saved — fix it, then `twinbench run --resume {outdir}`") from exc
        progress.update(bar, description="done")
    # the reports, after every result is stored and exported: a renderer's failure costs none
    rendered = render_outputs(outdir, study.name, result.records)
    print_results(rendered.analysis or result.records, console)
    if rendered.error:
        console.print(f"Wall time {result.wall_s:.1f} s. Results: {outdir / 'results.jsonl'}")
        console.print(f"[red]the report could not be written ({escape(rendered.error)}); the "
                      f"results are saved: retry with `twinbench report {outdir}`[/red]")
        raise typer.Exit(1)
    console.print(f"Wall time {result.wall_s:.1f} s. Results: {outdir / 'results.jsonl'}, "
                  f"{outdir / 'report.html'}, {outdir / 'report.md'}")
    if result.failed:
        raise typer.Exit(1)


def _run_composite(name: str | None, outdir: Path, overrides: dict[str, object],
                   resume: bool = False) -> None:
    """`run` for a composite preset (or `--resume` of a composite folder): its parts one after
    another with the usual progress lines, then one merged report. Exit 1 when a job failed."""
    from twinbench.outputs import Rendered, render_outputs
    from twinbench.plan import plan
    from twinbench.report.terminal import print_results
    from twinbench.runner.composite import (
        check_composite,
        load_resumable_composite,
        read_folder,
        run_composite,
    )
    from twinbench.study import COMPOSITE_ESTIMATE, load_composite

    if resume:
        name, parts = load_resumable_composite(outdir)
    else:
        assert name is not None
        parts = load_composite(name, overrides)
    check_composite(name, parts, outdir, resume=resume)
    n_jobs = sum(len(plan(s)) for _, s in parts)
    verb = "resuming" if resume else "composite"
    estimate = COMPOSITE_ESTIMATE.get(name, "")
    console.print(f"[bold]twinbench[/] {verb} [cyan]{escape(name)}[/]: {len(parts)} parts "
                  f"({', '.join(p for p, _ in parts)}), {n_jobs} jobs"
                  + (f", {estimate}" if estimate else "")
                  + f", {parts[0][1].threads} threads, results in {escape(str(outdir))}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        bar = progress.add_task("starting", total=0, visible=False)

        def on_part(i, n, part, study, skipped):
            nonlocal bar
            progress.update(bar, visible=False)
            jobs = len(plan(study))
            if skipped:
                progress.console.print(f"[bold]part {i + 1}/{n}: {escape(part)}[/] — finished "
                                       "before, kept", highlight=False)
                return
            progress.console.print(
                f"[bold]part {i + 1}/{n}: {escape(part)}[/] — {jobs} job{'s' * (jobs != 1)} "
                f"({', '.join(study.frameworks)} × {', '.join(study.scenarios)}), results in "
                f"{escape(str(outdir / part))}", highlight=False)
            bar = progress.add_task(f"part {i + 1}/{n}", total=jobs)

        def on_start(job, i, n):
            progress.update(bar, description=f"[cyan]{escape(job.job_id)}[/]")

        def on_done(o):
            progress.console.print(_job_line(o), highlight=False)
            progress.advance(bar)

        how = f"continue with `twinbench run --resume {outdir}`"
        try:
            result = run_composite(name, parts, outdir, on_part, on_start, on_done,
                                   resume=resume)
        except KeyboardInterrupt:
            raise Stopped(f"interrupted: finished parts and jobs are saved; {how}",
                          exit_code=130) from None
        except sqlite3.OperationalError as exc:
            raise Stopped(f"results database error ({exc}); finished jobs are saved — fix the "
                          f"cause, then {how}") from exc
        except OSError as exc:
            raise Stopped(f"cannot write results to {outdir}: {exc.strerror}; finished jobs "
                          f"are saved — fix it, then {how}") from exc
        progress.update(bar, description="done")
    # each part run now gets its own report, then the merged one (static evidence once)
    part_errors = {p.name: render_outputs(p.outdir, f"{name}-{p.name}",
                                          read_folder(p.outdir)).error
                   for p in result.parts if not p.skipped}
    merged = render_outputs(outdir, name, result.records) if result.merge_error is None \
        else Rendered(None, result.merge_error)
    print_results(merged.analysis or result.records, console)
    for p in result.parts:
        state = "kept from before" if p.skipped else f"{p.wall_s:.0f} s"
        fails = f", [red]{p.failed} failed[/]" if p.failed else ""
        err = part_errors.get(p.name)
        console.print(f"  {escape(p.name)}: {p.jobs} job{'s' * (p.jobs != 1)}{fails} ({state})"
                      + (f" [red]its own report failed: {escape(err)}[/]" if err else ""),
                      highlight=False)
    if merged.error:
        console.print(f"Wall time {result.wall_s:.1f} s. Results: "
                      f"{escape(str(outdir))}/<part>/results.jsonl")
        retry = f"twinbench report {outdir}" if (outdir / "results.jsonl").is_file() else \
            f"twinbench report {' '.join(str(p.outdir) for p in result.parts)} --out {outdir}"
        console.print(f"[red]the merged report could not be written "
                      f"({escape(merged.error)}); every part's results are saved: retry "
                      f"with `{escape(retry)}`[/red]")
        raise typer.Exit(1)
    console.print(f"Wall time {result.wall_s:.1f} s. Results: {outdir / 'results.jsonl'}, "
                  f"{outdir / 'report.html'}, {outdir / 'report.md'}")
    if result.failed or any(part_errors.values()):
        raise typer.Exit(1)


def _job_line(o) -> str:  # noqa: ANN001 - runner.local.JobOutcome, imported lazily
    """One finished job as the progress output prints it: mark, id, wall time, first error."""
    mark = "[green]✓[/]" if o.status == "ok" else "[red]✗[/]"
    note = "" if o.status == "ok" else \
        f" [red]{escape((o.error or '').splitlines()[0][:100])}[/]"
    return f"{mark} {escape(o.job.job_id)} ({o.wall_s:.1f} s){note}"


@app.command()
def show(
    outdir: Annotated[Path, typer.Argument(help="A results folder written by `run`.")],
) -> None:
    """Re-print the tables of a past study from its results.jsonl, and its claims' verdicts
    from its analysis.json."""
    from twinbench.analysis.study import analyze, saved_claims
    from twinbench.report.terminal import print_results
    from twinbench.results.export import read_jsonl

    path = outdir / "results.jsonl"
    if not path.exists():
        raise UserError(f"{path} not found: pass a folder written by `twinbench run --out DIR`")
    records = read_jsonl(path)
    analysis = analyze(records[0].study if records else outdir.name, records)
    analysis.claims = saved_claims(outdir) or analysis.claims
    print_results(analysis, console)


@app.command("list")
def list_() -> None:
    """List tasks, models (with sizes), frameworks, scenarios, data sets and presets."""
    from rich.table import Table

    from twinbench.frameworks.base import FRAMEWORKS
    from twinbench.scenarios import registry
    from twinbench.study import COMPOSITE_ESTIMATE, COMPOSITES, PRESETS
    from twinbench.tasks import TASKS
    from twinbench.zoo import MODELS

    t = Table(title="models", title_justify="left")
    for c in ("task", "model", "sizes", "description"):
        t.add_column(c)
    for m in MODELS.values():
        t.add_row(m.task, m.id, ", ".join(m.sizes), m.description)
    console.print(t)
    for title, items in (
        ("tasks", {t.id: f"{t.description}; metric {t.metric}; data sets: "
                   + ", ".join(t.datasets) for t in TASKS.values()}),
        ("frameworks", {f.id: f"{f.description} ({f.style})" for f in FRAMEWORKS.values()}),
        ("scenarios", {k: s.description for k, s in registry().items()}),
        ("data sets", {f"{name} ({t.id})": desc for t in TASKS.values()
                       for name, desc in t.datasets.items()}),
        ("presets", {k: ", ".join(v.get("frameworks", ["pytorch", "keras-tf"]))
                     + f" · size {v.get('size', 'small')}" for k, v in PRESETS.items()}
         | {k: f"composite: {', '.join(p for p, _ in parts)}"
            + (f" · {COMPOSITE_ESTIMATE[k]}" if k in COMPOSITE_ESTIMATE else "")
            for k, parts in COMPOSITES.items()}),
    ):
        t = Table(title=title, title_justify="left", show_header=False)
        t.add_column()
        t.add_column()
        for k, v in items.items():
            t.add_row(k, v)
        console.print(t)


@app.command()
def doctor(
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 when a component a shipped preset needs is missing or broken "
        "(CI runs this right after setup).")] = False,
) -> None:
    """Say which frameworks and runtimes are usable here, and why not.

    Each component is used for real in a process of its own: frameworks imported, Chromium
    launched through Playwright, the TF.js converter loaded. About a minute.
    """
    from twinbench.doctor import checks

    broken = []
    for c in checks():
        mark = "[green]✓[/]" if c.ok else "[red]✗[/]"
        console.print(f"{mark} {c.name:14} {escape(c.detail)}", highlight=False)
        if c.needed_by and not c.ok:
            broken.append(c)
    if broken:
        console.print(f"{len(broken)} component(s) the shipped presets need are missing or "
                      "broken: " + "; ".join(f"{c.name} (needed by {', '.join(c.needed_by)})"
                                            for c in broken) + ". Run `make setup`.",
                      highlight=False)
        if strict:
            raise typer.Exit(1)
    else:
        console.print("Every component the shipped presets need works here.")


def _study_dir(outdir: Path) -> tuple[str, list]:
    """(study name, records) of a results folder, or a one-line UserError."""
    from twinbench.results.export import read_jsonl

    path = outdir / "results.jsonl"
    if not path.is_file():
        raise UserError(f"{path} not found: pass a folder written by `twinbench run --out DIR`")
    records = read_jsonl(path)
    return (records[0].study if records else outdir.name), records


@app.command()
def report(
    dirs: Annotated[list[Path], typer.Argument(
        metavar="DIR...", help="Results folders written by `run`. One: its report is "
        "regenerated in place. Several: their records are merged into one report, written to "
        "--out.",
        show_default=False)],
    out: Annotated[Path | None, typer.Option(
        help="Folder for the report (and, merging, the merged results.jsonl). Needed with "
        "several folders; default with one: that folder.", show_default=False)] = None,
) -> None:
    """Regenerate report.html (self-contained, offline) and report.md from results.jsonl, or
    merge several results folders into one report (no quantity may come from two of them)."""
    from twinbench.atomic import write_atomic
    from twinbench.outputs import write_outputs
    from twinbench.results.export import write_jsonl
    from twinbench.runner.composite import combine, read_folder

    target = out if out is not None else dirs[0]
    if len(dirs) > 1 and out is None:
        raise UserError(f"merging {len(dirs)} folders needs --out OUT (a folder of its own: "
                        "each input keeps its own report)")
    seen: dict[Path, Path] = {}
    for d in dirs:
        if d.resolve() in seen:
            raise UserError(f"{d} is given twice (as {seen[d.resolve()]}); name each folder once")
        seen[d.resolve()] = d
    merged = len(dirs) > 1 or target.resolve() != dirs[0].resolve()
    if merged and target.resolve() in seen:
        raise UserError(f"--out {target} is one of the folders being merged; choose a folder "
                        "of its own (its results.jsonl would be replaced)")
    if merged and (target / "results.jsonl").is_file() \
            and not (target / "merged.json").is_file():
        raise UserError(f"--out {target} holds results of its own (results.jsonl); choose an "
                        "empty folder or one written by `twinbench report --out`")
    records = combine([(str(d), read_folder(d)) for d in dirs])
    study = _report_name(dirs, records)
    try:
        if merged:
            target.mkdir(parents=True, exist_ok=True)
            write_jsonl(target / "results.jsonl", records)
            write_atomic(target / "merged.json", json.dumps(
                {"study": study, "sources": [str(d) for d in dirs]}, indent=2) + "\n")
        write_outputs(target, study, records)  # comparisons, analysis.json, both reports
        html, md = target / "report.html", target / "report.md"
    except OSError as exc:  # read-only folder, disk full: one line, not a traceback
        raise UserError(f"cannot write the reports in {target}: {exc.strerror or exc}; "
                        "make it writable, or choose another --out") from exc
    console.print(f"Wrote {escape(str(html))} and {escape(str(md))}"
                  + (f" from {len(dirs)} folders ({len(records)} records)" if len(dirs) > 1
                     else ""))


def _report_name(dirs: list[Path], records: list) -> str:
    """The study a report is titled with: a composite's or an earlier merge's own name, else
    the studies' names ("quick + zoo"), else the folder's name."""
    if len(dirs) == 1:
        for meta, key in (("composite.json", "composite"), ("merged.json", "study")):
            try:
                name = json.loads((dirs[0] / meta).read_text()).get(key)
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(name, str) and name:
                return name
    names = list(dict.fromkeys(r.study for r in records))
    return " + ".join(names) if names else dirs[0].name


@app.command()
def brevity(
    model: ListOpt = None,
) -> None:
    """Code size of the twins per framework style (static analysis; docs/brevity.md)."""
    from twinbench.brevity import family_table
    from twinbench.report.console import print_brevity
    from twinbench.study import suggest
    from twinbench.zoo import MODELS

    models = [m.strip() for v in model or [] for m in v.split(",") if m.strip()] or None
    for m in models or []:
        if m not in MODELS:
            raise UserError("model " + suggest(m, tuple(MODELS)))
    print_brevity(family_table(models), console)


@app.command()
def models(
    query: Annotated[str, typer.Argument(help="Model name, e.g. detr, resnet50, bert, unet.")],
) -> None:
    """Where a model exists in the installed model zoos, offline (docs/models.md)."""
    from twinbench.report.console import print_models
    from twinbench.zoos import search

    if not query.strip():
        raise UserError("give a model name, e.g. `twinbench models detr`")
    print_models(query, search(query.strip()), console)


@app.command()
def recommend(
    outdir: Annotated[Path | None, typer.Argument(
        help="A results folder; without one only static evidence (code, zoos) is used.",
        show_default=False)] = None,
    priority: Annotated[list[str] | None, typer.Option(
        help="Comma list, most important first: speed, deadline, memory, accuracy, "
        "deploy=web|mobile|server, model=NAME, device=cpu|cuda.")] = None,
    job_minutes: Annotated[float, typer.Option(
        help="Length of your training job in minutes (at the fastest framework's speed): "
        "deadline weighs one-off startup seconds against it.")] = 60.0,
) -> None:
    """Rank frameworks for your priorities, with intervals and the measured lines behind each
    point."""
    from twinbench.analysis.recommend import check_job_minutes, parse_priorities
    from twinbench.analysis.recommend import recommend as rank
    from twinbench.brevity import family_table
    from twinbench.report.console import print_recommendation
    from twinbench.zoos import search

    prios = parse_priorities(priority or ["speed"])
    check_job_minutes(job_minutes)
    records = _study_dir(outdir)[1] if outdir is not None else []
    zoos = {p.value: search(p.value) for p in prios if p.kind == "model" and p.value}
    print_recommendation(rank(records, prios, family_table(), zoos, job_minutes=job_minutes),
                         console)


@app.command()
def compare(
    dir_a: Annotated[Path, typer.Argument(help="Baseline results folder (A).")],
    dir_b: Annotated[Path, typer.Argument(help="Results folder to compare with A (B).")],
    fail_on_regression: Annotated[bool, typer.Option(
        "--fail-on-regression", help="Exit 1 when a quantity significantly regressed.")] = False,
) -> None:
    """Two studies side by side with significance: the basis for regression tracking."""
    from twinbench.report.console import print_changes
    from twinbench.report.regression import compare_studies, version_changes

    (name_a, a), (name_b, b) = _study_dir(dir_a), _study_dir(dir_b)
    changes, only_a, only_b = compare_studies(a, b)
    if not changes:
        raise UserError(f"{dir_a} and {dir_b} share no measured quantity (same task, model, "
                        "framework, scenario, metric, mode and device)")
    print_changes(changes, only_a, only_b, version_changes(a, b), console,
                  (f"{name_a} ({dir_a})", f"{name_b} ({dir_b})"))
    if fail_on_regression and any(c.verdict == "regressed" for c in changes):
        raise typer.Exit(1)


def main() -> None:
    debug = "--debug" in sys.argv
    from twinbench.results.schema import SchemaError

    try:
        app()  # standalone: usage errors exit 2, typer.Exit codes pass through
    except (UserError, SchemaError, Stopped) as exc:
        if debug:
            raise
        one_line = " ".join(str(exc).split())  # wrapped library messages stay one line
        err.print(f"twinbench: error: {escape(one_line)}", highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:  # outside a study (a study raises Stopped)
        err.print("twinbench: interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
