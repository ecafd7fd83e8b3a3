"""Start a distributed run with each framework's own launcher, bounded in time, loopback only.

``launch(spec)`` writes the spec, starts the processes in a new session (one process group),
waits until all exit or ``timeout_s`` passes, and on a timeout, a crash of any rank or Ctrl-C
kills the whole group (gloo can hang when a peer dies: pytorch/pytorch#106365, #132644). It
returns the ranks' logs and, for a rank that failed, the tail of its output.

Launchers, as each framework documents them:
- pytorch: ``torchrun --standalone --nproc-per-node=W`` (rendezvous on 127.0.0.1), gloo;
- lightning: one ``python -m`` process; ``Trainer(strategy="ddp", devices=W)`` starts the others;
- keras-jax: W processes, each calling ``keras.distribution.initialize`` with the coordinator
  on 127.0.0.1;
- keras-tf: W processes, each with its ``TF_CONFIG`` (cluster of 127.0.0.1 ports), for
  ``MultiWorkerMirroredStrategy``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twinbench.distributed.rank_common import LOOPBACK, RankSpec

RANK_MODULES = {
    "pytorch": "twinbench.distributed.rank_torch",
    "lightning": "twinbench.distributed.rank_lightning",
    "keras-jax": "twinbench.distributed.rank_keras_jax",
    "keras-tf": "twinbench.distributed.rank_keras_tf",
}
LAUNCHERS = {
    "pytorch": "torchrun --standalone --nproc-per-node=W (gloo)",
    "lightning": 'Trainer(accelerator="cpu", devices=W, strategy="ddp")',
    "keras-jax": "keras.distribution.initialize + DataParallel, W processes",
    "keras-tf": "tf.distribute.MultiWorkerMirroredStrategy via TF_CONFIG, W processes",
}
TAIL_LINES = 15


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    cmd: list[str]
    env: dict[str, str]
    log: Path


@dataclass
class Launch:
    """The outcome of one launch: the ranks' logs (``rank<r>.json`` read back) or why not."""

    t0: float  # time.monotonic() just before the first process started
    wall_s: float
    ranks: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def base_env(spec: RankSpec) -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env.update(MASTER_ADDR=LOOPBACK, MASTER_PORT=str(spec.master_port), GLOO_SOCKET_IFNAME="lo",
               OMP_NUM_THREADS=str(spec.threads), PYTHONUNBUFFERED="1")
    return env


def processes(spec: RankSpec, spec_path: Path) -> list[Proc]:
    """The processes to start (the launcher's own children are not listed)."""
    module, env, w = RANK_MODULES[spec.framework], base_env(spec), spec.world
    d = spec.dir
    if spec.framework == "pytorch":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={w}", "--log-dir", str(d / "torchrun"), "--redirects", "3",
               "-m", module, str(spec_path)]
        return [Proc(cmd, env, d / "launcher.log")]
    if spec.framework == "lightning":
        return [Proc([sys.executable, "-m", module, str(spec_path)], env, d / "launcher.log")]
    if spec.framework == "keras-jax" and spec.variant == "spmd":  # one process, W devices
        flags = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={w}"
        return [Proc([sys.executable, "-m", module, str(spec_path), "0"],
                     {**env, "XLA_FLAGS": flags.strip()}, d / "rank0.log")]
    if spec.framework == "keras-jax":
        return [Proc([sys.executable, "-m", module, str(spec_path), str(r)], env,
                     d / f"rank{r}.log") for r in range(w)]
    if spec.framework == "keras-tf":
        ports = [free_port() for _ in range(w)]
        cluster = {"worker": [f"{LOOPBACK}:{p}" for p in ports]}
        return [Proc([sys.executable, "-m", module, str(spec_path), str(r)],
                     {**env, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                     "task": {"type": "worker", "index": r}})},
                     d / f"rank{r}.log") for r in range(w)]
    raise ValueError(f"no distributed launcher for {spec.framework}")


def rank_logs(spec: RankSpec) -> int:
    """How many ``rank<r>.json`` a launch leaves: one per process (the one-process SPMD
    variant of Keras-JAX drives its W devices from one process)."""
    return 1 if spec.variant == "spmd" else spec.world


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, n: int = TAIL_LINES) -> str:
    return "\n".join(_read(path).splitlines()[-n:])


_EXC = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit)\b.*)$")


def exception_line(text: str, limit: int = 240) -> str | None:
    """The last ``SomeError: message`` line of a traceback (the message cut at ``limit``)."""
    found = [m.group(1) for line in text.splitlines() if (m := _EXC.match(line.strip()))]
    return found[-1][:limit] if found else None


def _logs(spec: RankSpec) -> list[Path]:
    """The ranks' logs first, the launcher's last (its error is the ranks' echoed)."""
    d = spec.dir
    found = {*d.glob("*.log"), *d.glob("torchrun/**/*.log"), *d.glob("torchrun/**/std*")}
    return sorted(found, key=lambda p: (p.name == "launcher.log", str(p)))


def kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill each started process's group and every descendant (a launcher may start its ranks
    in sessions of their own)."""
    import psutil

    kids = []
    for p in procs:
        try:
            kids += psutil.Process(p.pid).children(recursive=True)
        except psutil.Error:
            pass
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for k in kids:
        try:
            k.kill()
        except psutil.Error:
            pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def launch(spec: RankSpec, timeout_s: float) -> Launch:
    """Run one distributed launch to its end; never hangs past ``timeout_s``."""
    spec.dir.mkdir(parents=True, exist_ok=True)
    for old in [*spec.dir.glob("rank*.json"), *spec.dir.glob("gate*.npz")]:
        old.unlink()
    spec_path = spec.dir / "spec.json"
    spec.save(spec_path)
    plan = processes(spec, spec_path)
    t0 = time.monotonic()
    started: list[subprocess.Popen[bytes]] = []
    error = None
    try:
        for p in plan:
            with open(p.log, "w") as log:
                started.append(subprocess.Popen(p.cmd, env=p.env, stdout=log,
                                                stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL,
                                                start_new_session=True))
        deadline = t0 + timeout_s
        while any(p.poll() is None for p in started):
            bad = next((p for p in started if p.poll() not in (None, 0)), None)
            if bad is not None:
                error = f"a process exited with code {bad.returncode}"
                break
            if time.monotonic() > deadline:
                error = f"timed out after {timeout_s:g} s"
                break
            time.sleep(0.1)
        else:
            bad = next((p for p in started if p.returncode != 0), None)
            if bad is not None:
                error = f"a process exited with code {bad.returncode}"
    finally:  # Ctrl-C or anything else: no rank outlives the launch
        kill_all(started)
    wall = time.monotonic() - t0
    ranks = []
    for r in range(rank_logs(spec)):
        f = spec.dir / f"rank{r}.json"
        if f.exists():
            ranks.append(json.loads(f.read_text()))
        elif error is None:
            error = f"rank {r} wrote no result"
    if error is not None:
        logs = _logs(spec)
        cause = next((c for p in logs if (c := exception_line(_read(p)))), None)
        if cause:
            error = f"{error}: {cause}"
        tails = [f"--- {p.relative_to(spec.dir)}\n{t}" for p in logs if (t := _tail(p))]
        error = error + ("\n" + "\n".join(tails) if tails else "")
    return Launch(t0, wall, ranks, error)
