"""The `twinbench` command line: run, show, list, doctor.

Exit codes: 0 every job succeeded; 1 the study completed but some jobs failed (results are still
written and the failures listed); 2 bad input (one line on stderr, no traceback unless --debug).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from twinbench.errors import UserError

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
        help="Built-in study: quick, backends, tiny (`twinbench list`).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Results folder (results.jsonl, results.sqlite, report.html, logs/). "
        "Default: runs/<study name>.")] = None,
    task: ListOpt = None,
    model: ListOpt = None,
    framework: ListOpt = None,
    scenario: ListOpt = None,
    threads: Annotated[int | None, typer.Option(
        help="Intra- and inter-op threads, the same for every framework.")] = None,
    size: Annotated[str | None, typer.Option(help="Model size (see `twinbench list`).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds before a job is killed.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for weights and data order.")] = None,
    db: Annotated[Path | None, typer.Option(
        help="SQLite results database. Default: OUT/results.sqlite.")] = None,
    dataset: Annotated[str | None, typer.Option(
        help="Data set for the accuracy scenario (default: the task's own).")] = None,
    data_path: Annotated[Path | None, typer.Option(
        help="Folder or .tar.gz of a file data set (cifar10: cifar-10-python.tar.gz).")] = None,
    no_parity: Annotated[bool, typer.Option(
        "--no-parity", help="Skip the parity checks (numbers are then unverified).")] = False,
) -> None:
    """Run a study: parity checks, then each job in its own worker process.

    Example: [bold]twinbench run --preset quick --framework pytorch,keras-jax --out runs/q[/]
    """
    from twinbench.plan import plan
    from twinbench.report.terminal import print_results
    from twinbench.runner.orchestrate import run_study
    from twinbench.study import load_study

    if study_file is None and preset is None:
        preset = "quick"
    overrides = {"tasks": task, "models": model, "frameworks": framework, "scenarios": scenario,
                 "threads": threads, "size": size, "timeout_s": timeout, "seed": seed,
                 "parity": False if no_parity else None,
                 "data_path": str(data_path) if data_path else None,
                 "accuracy": {"dataset": dataset} if dataset else None}
    study = load_study(study_file, preset, overrides)
    outdir = out or Path("runs") / study.name
    jobs = plan(study)
    console.print(f"[bold]twinbench[/] study [cyan]{escape(study.name)}[/]: {len(jobs)} jobs "
                  f"({', '.join(study.frameworks)} × {', '.join(study.scenarios)}), "
                  f"{study.threads} threads, results in {escape(str(outdir))}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        bar = progress.add_task("starting", total=len(jobs))

        def on_start(job, i, n):
            progress.update(bar, description=f"[cyan]{escape(job.job_id)}[/]")

        def on_done(o):
            mark = "[green]✓[/]" if o.status == "ok" else "[red]✗[/]"
            note = "" if o.status == "ok" else \
                f" [red]{escape((o.error or '').splitlines()[0][:100])}[/]"
            progress.console.print(f"{mark} {escape(o.job.job_id)} ({o.wall_s:.1f} s){note}",
                                   highlight=False)
            progress.advance(bar)

        try:
            result = run_study(study, outdir, db, on_start, on_done)
        except OSError as exc:
            raise UserError(f"cannot write results to {outdir}: {exc.strerror}") from exc
        progress.update(bar, description="done")
    print_results(result.records, console)
    console.print(f"Wall time {result.wall_s:.1f} s. Results: {outdir / 'results.jsonl'}, "
                  f"{outdir / 'report.html'}")
    if result.failed:
        raise typer.Exit(1)


@app.command()
def show(
    outdir: Annotated[Path, typer.Argument(help="A results folder written by `run`.")],
) -> None:
    """Re-print the tables of a past study from its results.jsonl."""
    from twinbench.report.terminal import print_results
    from twinbench.results.export import read_jsonl

    path = outdir / "results.jsonl"
    if not path.exists():
        raise UserError(f"{path} not found: pass a folder written by `twinbench run --out DIR`")
    print_results(read_jsonl(path), console)


@app.command("list")
def list_() -> None:
    """List tasks, models (with sizes), frameworks, scenarios, data sets and presets."""
    from rich.table import Table

    from twinbench.frameworks.base import FRAMEWORKS
    from twinbench.scenarios import SCENARIOS
    from twinbench.study import PRESETS
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
        ("scenarios", {k: v[1] for k, v in SCENARIOS.items()}),
        ("data sets", {f"{name} ({t.id})": desc for t in TASKS.values()
                       for name, desc in t.datasets.items()}),
        ("presets", {k: ", ".join(v.get("frameworks", ["pytorch", "keras-tf"]))
                     + f" · size {v.get('size', 'small')}" for k, v in PRESETS.items()}),
    ):
        t = Table(title=title, title_justify="left", show_header=False)
        t.add_column()
        t.add_column()
        for k, v in items.items():
            t.add_row(k, v)
        console.print(t)


@app.command()
def doctor() -> None:
    """Say which frameworks and runtimes are usable here, and why not."""
    from twinbench.doctor import checks
    from twinbench.frameworks.base import FRAMEWORKS

    bad = 0
    for name, ok, detail in checks():
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        bad += not ok and name in FRAMEWORKS
        console.print(f"{mark} {name:14} {escape(detail)}", highlight=False)
    if bad:
        console.print(f"{bad} component(s) unusable; studies that need them record failed jobs.")


def main() -> None:
    debug = "--debug" in sys.argv
    from twinbench.results.schema import SchemaError

    try:
        app()  # standalone: usage errors exit 2, typer.Exit codes pass through
    except (UserError, SchemaError) as exc:
        if debug:
            raise
        err.print(f"twinbench: error: {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("twinbench: interrupted; finished jobs are in the results database")
        sys.exit(130)


if __name__ == "__main__":
    main()
