"""Tiny distributed launches for tests and for trying a rank module by hand:

    python tests/dist_support.py FRAMEWORK [MODEL] [WORLD] [VARIANT] [SCHEDULE] [MICROBATCHES]

prepares a run folder under /tmp (tiny twin, tiny batch), launches W=1 (the gate's reference)
and W=WORLD, and prints the gate and the step times.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from twinbench.distributed import launch as L  # noqa: E402
from twinbench.distributed.prepare import gate, samples_needed, share_inputs, write_inputs  # noqa: E402
from twinbench.distributed.rank_common import RankSpec  # noqa: E402

MODELS = {"resnet": "image-classification", "transformer": "text-classification"}


def tiny_spec(workdir: Path, framework: str, model: str = "resnet", world: int = 1,
              **kw) -> RankSpec:
    fields = dict(framework=framework, model=model, size={}, task=MODELS[model],
                  input_shape=[], num_classes=0, lr=0.05, momentum=0.9, optimizer="sgd",
                  weight_decay=0.0, seed=0, global_batch=8, steps=3, warmup=1, world=world,
                  threads=1, workdir=str(workdir), master_port=L.free_port())
    fields.update(kw)
    return RankSpec(**fields)


def prepare(spec: RankSpec) -> RankSpec:
    """Data and canonical initial weights for ``spec`` (sizes from the tiny preset)."""
    from twinbench.frameworks.pytorch.adapter import TorchAdapter
    from twinbench.study import load_study
    from twinbench.tasks import task_module
    from twinbench.zoo import MODELS as ZOO
    from twinbench.zoo.init import canonical_init, shapes_of

    study = load_study(preset="tiny")
    n = samples_needed(spec)
    ds = task_module(spec.task).load(_dataset(spec.task), study, n_train=n, n_test=1)
    size = dict(ZOO[spec.model].sizes["tiny"])
    if ds.vocab_size is not None:
        size["vocab_size"] = ds.vocab_size
    a = TorchAdapter(threads=1, seed=0)
    net = a.build(spec.model, size, ds.input_shape, ds.num_classes)
    init = canonical_init(shapes_of(a.get_weights(net)), 0)
    spec.size, spec.input_shape, spec.num_classes = size, list(ds.input_shape), ds.num_classes
    write_inputs(spec, ds.train.x[:n], ds.train.y[:n], init)
    return spec


def _dataset(task: str) -> str:
    from twinbench.tasks import TASKS

    return TASKS[task].train_dataset


def main(argv: list[str]) -> int:
    fw = argv[0]
    model = argv[1] if len(argv) > 1 else "resnet"
    world = int(argv[2]) if len(argv) > 2 else 2
    variant = argv[3] if len(argv) > 3 else "data-parallel"
    schedule = argv[4] if len(argv) > 4 else None
    micro = int(argv[5]) if len(argv) > 5 else 1
    base = Path(tempfile.mkdtemp(prefix=f"dist-{fw}-"))
    import importlib

    mod = importlib.import_module(L.RANK_MODULES[fw])
    shards = world if getattr(mod, "BATCH_STATS", "replica") == "replica" else 1
    if variant == "pipeline":  # BatchNorm statistics are per microbatch
        shards = micro
    ref = prepare(tiny_spec(base / "w1", fw, model, 1, ref_shards=shards))
    run = tiny_spec(base / f"w{world}", fw, model, world, size=ref.size,
                    input_shape=ref.input_shape, num_classes=ref.num_classes, variant=variant,
                    schedule=schedule, microbatches=micro)
    share_inputs(ref, run)
    for s in (ref, run):
        r = L.launch(s, timeout_s=300)
        print(f"W={s.world}: ok={r.ok} wall={r.wall_s:.1f}s error={r.error}")
        for rk in r.ranks:
            steps = list(np.diff(rk["step_end"]))
            print(f"  rank {rk['rank']}: first step at +{rk['step_end'][0] - r.t0:.1f}s, "
                  f"steps {[round(t, 4) for t in steps]}, rss {rk['peak_rss'] / 2**20:.0f} MiB,"
                  f" info {rk['info']}")
        if not r.ok:
            return 1
    n = len(np.load(ref.dir / "data.npz")["y"])
    g = gate(ref.dir, run.dir, 1e-5, run, r.ranks, n)
    print("gate:", g)
    return 0 if g.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
