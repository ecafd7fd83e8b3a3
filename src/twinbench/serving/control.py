"""Start, pin, watch and stop the serving processes; read their memory and sockets.

A server starts in a session of its own pinned to one CPU with one thread per library; the
client runs pinned to another CPU. ``stop`` kills the server's process group and every
descendant (LitServe and Ray start processes of their own), so nothing outlives a run, a
crash or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twinbench.distributed.launch import exception_line, free_port, kill_all
from twinbench.serving.protocol import LOOPBACK, PATH

SERVERS = {
    "aiohttp": "twinbench.serving.server_main",
    "litserve": "twinbench.serving.litserve_main",
    "ray-serve": "twinbench.serving.rayserve_main",
}
SERVER_TITLES = {
    "aiohttp": "neutral front end (aiohttp, 1 process)",
    "litserve": "LitServe (LitServer, 1 worker)",
    "ray-serve": "Ray Serve (1 replica, 1 CPU)",
}
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "JAX_PLATFORMS": "cpu",
              "CUDA_VISIBLE_DEVICES": "", "RAY_USAGE_STATS_ENABLED": "0",
              "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
              # Ray on Linux resolves its node address to the host's external interface even
              # when told 127.0.0.1 (ray-project/ray#26293); with its "no cluster" switch it
              # takes the loopback address, and its gRPC servers bind where the node is
              "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


class ServerFailed(RuntimeError):
    """A server that did not come up, or died: the first exception line of its log."""


def cpus() -> tuple[int, int]:
    """(the server's CPU, the client's CPU): two different cores where there are two."""
    have = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    allc = list(range(os.cpu_count() or 1))
    pool = allc if len(allc) >= 2 else have
    return pool[0], pool[1 % len(pool)]


def _pin(cpu: int) -> Any:
    return (lambda: os.sched_setaffinity(0, {cpu})) if hasattr(os, "sched_setaffinity") \
        else None


def env_for(backend_framework: str | None) -> dict[str, str]:
    from twinbench.frameworks.base import FRAMEWORKS

    env = {**os.environ, **THREAD_ENV}
    env.pop("KERAS_BACKEND", None)
    if backend_framework in FRAMEWORKS:
        env.update(FRAMEWORKS[backend_framework].env)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


@dataclass
class Server:
    kind: str
    backend: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    t_spawn: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{PATH}"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def failure(self, what: str) -> ServerFailed:
        text = self.log_text()
        cause = exception_line(text)
        tail = "\n".join(text.splitlines()[-12:])
        return ServerFailed(f"{what}: {cause}" if cause else f"{what}\n{tail}".strip())


def start(kind: str, backend: str, entry: dict[str, Any], workdir: Path, cpu: int,
          framework: str | None) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    spec = workdir / f"{kind}-{backend}.json"
    spec.write_text(json.dumps({"backend": backend, "entry": entry, "port": port}))
    log = workdir / f"{kind}-{backend}.log"
    with open(log, "w") as out:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", SERVERS[kind], str(spec)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env_for(framework), start_new_session=True,
                                preexec_fn=_pin(cpu))
    return Server(kind, backend, proc, port, log, t)


def post(url: str, body: bytes, timeout_s: float) -> bytes:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout_s) as r:  # noqa: S310 (loopback only)
        data: bytes = r.read()
        return data


def first_answer(server: Server, body: bytes, timeout_s: float) -> float:
    """Seconds from spawn to the first 200 on ``/predict`` (the cold start); raises
    ServerFailed when the process dies or ``timeout_s`` passes first."""
    deadline = server.t_spawn + timeout_s
    while time.perf_counter() < deadline:
        if server.proc.poll() is not None:
            raise server.failure(f"{server.kind} exited with code {server.proc.returncode} "
                                 "before answering")
        try:
            post(server.url, body, timeout_s=max(1.0, deadline - time.perf_counter()))
            return time.perf_counter() - server.t_spawn
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.05)
    raise server.failure(f"{server.kind} did not answer within {timeout_s:g} s")


def health(server: Server) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{server.port}/health",  # noqa: S310
                                    timeout=5) as r:
            got = json.loads(r.read())
            return got if isinstance(got, dict) else {}
    except (urllib.error.URLError, OSError, ValueError):
        return {}


def tree(pid: int) -> list[Any]:
    import psutil

    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def memory(pid: int) -> tuple[float, int]:
    """(MiB held by the process and its descendants, as PSS so shared pages count once;
    how many processes)."""
    import psutil

    total, n = 0, 0
    for p in tree(pid):
        try:
            info = p.memory_full_info()
            total += getattr(info, "pss", info.rss)
            n += 1
        except psutil.Error:
            pass
    return total / 2**20, n


def sockets(pid: int) -> list[dict[str, Any]]:
    """Every inet socket of the process tree: local and remote address, state."""
    import psutil

    out = []
    for p in tree(pid):
        try:
            conns = p.net_connections(kind="inet")
        except psutil.Error:
            continue
        for c in conns:
            out.append({"pid": p.pid, "local": c.laddr.ip if c.laddr else None,
                        "remote": c.raddr.ip if c.raddr else None, "status": c.status})
    return out


def off_loopback(socks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sockets bound or connected outside 127.0.0.0/8 (a wildcard listen counts: it accepts
    from every interface)."""
    def loop(ip: str | None) -> bool:
        return ip is None or ip.startswith("127.") or ip == "::1" or ip.startswith(
            "::ffff:127.")

    return [s for s in socks if not (loop(s["local"]) and loop(s["remote"]))]


def stop(server: Server) -> list[int]:
    """Kill the server and everything it started; the pids still alive afterwards (none,
    unless something escaped the process tree)."""
    kids = [p.pid for p in tree(server.proc.pid)]
    kill_all([server.proc])
    import psutil

    time.sleep(0.2)
    return [pid for pid in kids if psutil.pid_exists(pid) and
            psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def run_client(plan: dict[str, Any], workdir: Path, cpu: int, timeout_s: float) -> dict[str, Any]:
    """Run the client process (pinned to ``cpu``) on one plan; its JSON result."""
    workdir.mkdir(parents=True, exist_ok=True)
    path, out = workdir / "client-plan.json", workdir / "client-out.json"
    path.write_text(json.dumps(plan))
    out.unlink(missing_ok=True)
    env = env_for(None)
    r = subprocess.run([sys.executable, "-m", "twinbench.serving.client", str(path), str(out)],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout_s, preexec_fn=_pin(cpu))
    if r.returncode != 0 or not out.exists():
        cause = exception_line(r.stderr) or r.stderr.strip()[-300:]
        raise ServerFailed(f"client failed: {cause}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result
