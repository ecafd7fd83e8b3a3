"""What a scenario receives (a Context) and returns (Measurements).

Scenarios are framework-neutral: they only talk to the adapter protocol and to numpy, so the same
code times every framework. Summaries (median, 95% interval, warnings) are computed here, in the
worker, from the raw samples the record also keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from twinbench.frameworks.base import Adapter, CallPath, PathKind, paths_for
from twinbench.job import Job
from twinbench.measure.stats import summarize
from twinbench.results.schema import Warn
from twinbench.scenarios.spec import StudySettings
from twinbench.tasks import TASKS, TaskSpec, task_module
from twinbench.tasks.datasets import Dataset
from twinbench.zoo import MODELS
from twinbench.zoo.init import canonical_init, shapes_of


@dataclass
class Measurement:
    metric: str
    unit: str
    value: float | None
    better: str | None = None
    samples: list[float] = field(default_factory=list)
    warmups: list[float] = field(default_factory=list)
    ci95: tuple[float, float] | None = None
    batch_size: int | None = None
    dataset: str | None = None
    warnings: list[Warn] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    scenario: str | None = None  # default: the job's; set when a job records for two (rides_on)
    # the record's typed sub-structure (results.schema.Record): an export route and its variant,
    # a profile's phase and op category
    route: str | None = None
    variant: str | None = None
    phase: str | None = None
    category: str | None = None
    # what ``ci95`` is to be the interval of ("median", "p99"): the orchestrator bootstraps it
    # from ``samples`` (runner/local.py), so workers never import scipy.stats
    ci_of: str | None = None
    # the knobs in effect on the timed call (a call path's); None: the adapter's for the job
    knobs: dict[str, Any] | None = None
    # the framework whose artifact it measures; None: the job's (a per-model job such as
    # serve records for every framework of the study, each from its own process)
    framework: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Failed(Measurement):
    """A part of a job that did not work (one export route, one runtime): a record with status
    "failed" and its reason, while the job's other measurements stand."""

    status: str = "failed"
    error: str | None = None


def on_path(ms: list[Measurement], path: CallPath, group: str,
            knobs: dict[str, Any] | None = None) -> list[Measurement]:
    """Label measurements with the call path that produced them (``extra.call_path``) and the
    comparison group it competes in (``extra.path_group``: its best path is chosen per
    framework and mode by ``analysis.paths``), and carry the knobs of the timed call."""
    for m in ms:
        m.extra = {**m.extra, "call_path": path.id, "path_group": group}
        if knobs is not None:
            m.knobs = knobs
    return ms


def failed_path(path: CallPath, group: str, exc: BaseException) -> Failed:
    """A call path that did not run (a compiler crash, a parity failure): its own failed
    record, with the upstream issue when the failure is a known one; other paths still run."""
    from twinbench.frameworks.known_issues import upstream

    text = f"{path.id}: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}" \
        if str(exc).strip() else f"{path.id}: {type(exc).__name__}"
    issue = upstream(f"{type(exc).__name__}: {exc}")
    f = Failed("path", "", None, error=text + (f" (upstream: {issue})" if issue else ""))
    on_path([f], path, group, knobs={"call_path": path.id, **path.knobs})
    f.extra["upstream"] = issue
    return f


def from_samples(metric: str, unit: str, samples: list[float], better: str,
                 warmups: list[float] | None = None, seconds: list[float] | None = None,
                 **kw: Any) -> Measurement:
    """Median of raw samples and stability warnings; the orchestrator adds the interval.

    ``seconds`` are the raw durations behind the samples, checked against the clock resolution.
    """
    s = summarize(samples, seconds, with_ci=False)
    return Measurement(metric, unit, s.median, better, list(map(float, samples)),
                       list(map(float, warmups or [])), warnings=s.warnings, ci_of="median",
                       **kw)


def percentile_of(metric: str, samples: list[float], q: float, unit: str = "ms",
                  **kw: Any) -> Measurement:
    """A tail percentile; the orchestrator adds a bootstrap interval of that percentile."""
    x = np.asarray(samples, dtype=np.float64)
    warn = [] if x.size >= 100 / (100 - q) * 10 else [
        Warn("tail", f"p{q:g} from only {x.size} samples: the tail is poorly resolved")]
    return Measurement(metric, unit, float(np.percentile(x, q)), "lower", list(map(float, x)),
                       warnings=warn, ci_of=f"p{q:g}", **kw)


def with_flops(ctx: Context, net: Any, ds: Any, m: Measurement, factor: int) -> None:
    """Attach FLOPs per sample (forward x factor) to a throughput measurement."""
    try:
        fwd, skipped = ctx.adapter.flops_per_sample(net, ctx.adapter.to_device(ds.test.x[:1]))
    except Exception as exc:  # counting is a bonus: never lose the timing for it
        m.warnings.append(Warn("flops", f"FLOPs not counted: {type(exc).__name__}: {exc}"[:200]))
        return
    if skipped or not fwd:  # a partial count would be a wrong number: leave it out
        m.extra["flops_uncounted_layers"] = skipped
        m.warnings.append(Warn("flops", f"FLOPs not counted: {len(skipped)} layer(s) the counter "
                                        "cannot see into (subclassed model)"))
        return
    m.extra["flops_per_sample"] = fwd * factor
    m.extra["forward_flops"] = fwd
    m.extra["flops_factor"] = factor


C = TypeVar("C", bound=BaseModel)


@dataclass
class Context:
    job: Job
    study: StudySettings  # twinbench.study.Study; sections through ``section``
    adapter: Adapter
    workdir: Path
    import_s: float
    progress: Callable[[str], None] = lambda msg: None
    last_net: Any = None  # the most recently built twin, so the worker can record its knobs
    # sizes only the data can fix (text: vocab_size), set by dataset() and merged into size
    data_sizes: dict[str, int] = field(default_factory=dict)

    def section(self, config: type[C]) -> C:
        """The study's section of a scenario (``ctx.section(TrainConfig)``)."""
        return self.study.section(config)

    @property
    def size(self) -> dict[str, Any]:
        return {**MODELS[self.job.model].sizes[self.job.size], **self.data_sizes}

    @property
    def task(self) -> TaskSpec:
        return TASKS[self.job.task]

    def dataset(self, name: str | None = None, n_train: int | None = None,
                n_test: int | None = None) -> Dataset:
        """The task's data set ``name`` (default: the one throughput scenarios use)."""
        ds = task_module(self.job.task).load(
            name or self.task.train_dataset, self.study, n_train=n_train, n_test=n_test)
        if ds.vocab_size is not None:
            self.data_sizes["vocab_size"] = ds.vocab_size
        return ds  # type: ignore[no-any-return]  # task modules are loaded by name

    def evaluate(self, outputs: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, float]:
        scores: dict[str, float] = task_module(self.job.task).evaluate(outputs, y, num_classes)
        return scores

    @property
    def mode(self) -> str:
        return self.job.mode

    def paths(self, kind: PathKind, input_shape: tuple[int, ...]) -> list[CallPath]:
        """The call paths this job runs (its mode's; channels-last only for image batches)."""
        return paths_for(self.adapter.call_paths(), kind, self.mode,
                         images=len(input_shape) == 3)

    def primary_path(self, kind: PathKind, input_shape: tuple[int, ...]) -> CallPath:
        """The path that stands for the mode where one run must do (startup, accuracy): its
        first path of that mode (out-of-box: the default; tuned: the first tuned one)."""
        paths = self.paths(kind, input_shape)
        return next((p for p in paths if p.mode == self.mode), paths[0])

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        """Build the twin and load the framework-neutral initial weights (same on every side)."""
        net = self.adapter.build(self.job.model, self.size, input_shape, num_classes)
        shapes = shapes_of(self.adapter.get_weights(net))
        self.adapter.set_weights(net, canonical_init(shapes, self.study.seed))
        self.last_net = net
        return net
