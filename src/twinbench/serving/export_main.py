"""Export process: one framework builds the twin with the canonical initial weights (the same
on every side), answers the parity inputs in process, and exports each of its backends.

    python -m twinbench.serving.export_main SPEC.json

SPEC: framework, model, size, input_shape, num_classes, seed, outdir, backends, inputs (.npy).
Writes ``outdir/manifest.json``: per backend its artifact, bytes and export seconds, or the
error (first line, upstream issue where known); and ``outdir/reference.npy``, the in-process
outputs on the inputs.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.atomic import write_atomic


def main(spec_path: str) -> int:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    from twinbench.distributed.rank_common import adapter_for
    from twinbench.frameworks.known_issues import upstream
    from twinbench.serving.backends import BACKENDS, artifact_bytes, export
    from twinbench.zoo.init import canonical_init, shapes_of

    out = Path(spec["outdir"])
    out.mkdir(parents=True, exist_ok=True)
    fw = spec["framework"]
    adapter = adapter_for(fw, 1, spec["seed"])
    shape = tuple(spec["input_shape"])
    net = adapter.build(spec["model"], spec["size"], shape, spec["num_classes"])
    adapter.set_weights(net, canonical_init(shapes_of(adapter.get_weights(net)), spec["seed"]))
    x = np.load(spec["inputs"])
    np.save(out / "reference.npy", adapter.predict(net, adapter.to_device(x)))
    t = time.perf_counter()
    np.savez(out / "weights.npz", **adapter.get_weights(net))
    weights_s = time.perf_counter() - t
    common = {k: spec[k] for k in ("model", "size", "input_shape", "num_classes", "seed")}
    entries: dict[str, Any] = {}
    for name in spec["backends"]:
        path = out / BACKENDS[name].artifact
        print(f"export {name} -> {path.name}", flush=True)
        t = time.perf_counter()
        try:
            export(name, net, np.ascontiguousarray(x[:2]), path)
        except Exception as exc:  # one route failing is a record; the others still export
            traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            entries[name] = {"ok": False, "error": f"{type(exc).__name__}: {first}",
                             "upstream": upstream(f"{type(exc).__name__}: {exc}")}
            continue
        secs = time.perf_counter() - t + (weights_s if path.name == "weights.npz" else 0.0)
        entries[name] = {"ok": True, "path": str(path), "bytes": artifact_bytes(path),
                         "export_s": secs, **common}
    manifest = {"framework": fw, "versions": adapter.versions(), "backends": entries}
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
