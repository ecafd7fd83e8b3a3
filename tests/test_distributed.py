"""Distributed launches for real, on tiny nets: the gate passes for DDP and catches a wrong
reference, shards are disjoint, a crashed rank or a hung launch ends in an error (no process
left, no hang), and no socket of the launch leaves 127.0.0.0/8. The scenario through the CLI is
in test_distributed_cli.py. Speed is never asserted here (0 < E only)."""

from __future__ import annotations

import ipaddress
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from dist_support import prepare, tiny_spec
from twinbench.distributed.launch import launch
from twinbench.distributed.prepare import check_shards, gate, share_inputs
from twinbench.distributed.rank_common import CRASH_CODE, CRASH_VAR, RankSpec

pytestmark = pytest.mark.timeout(300)


# torch's c10d TCPStore (torchrun's rendezvous store) listens on the IPv6 wildcard, dual stack,
# whatever host it is given: TCPStore has no bind address (only a pre-bound socket,
# ``master_listen_fd``). Nothing connects through it but 127.0.0.1 (checked below); the
# launch's records and docs/distributed.md say so.
WILDCARD = {"::", "0.0.0.0"}


class SocketWatch:
    """Samples the sockets of this process's descendants while a launch runs."""

    def __init__(self) -> None:
        self.addresses: set[str] = set()
        self.wildcard_listens: set[str] = set()
        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            pids = {p.pid for p in me.children(recursive=True)}
            self.pids |= pids
            for c in psutil.net_connections(kind="inet"):
                if c.pid not in pids:
                    continue
                if c.status == psutil.CONN_LISTEN and c.laddr.ip in WILDCARD:
                    self.wildcard_listens.add(c.laddr.ip)
                    continue
                for a in (c.laddr, c.raddr):
                    if a:
                        self.addresses.add(a.ip)
            time.sleep(0.2)

    def __enter__(self) -> SocketWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def outside_loopback(self) -> set[str]:
        return {a for a in self.addresses if not _loopback(a)}


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return (mapped or ip).is_loopback


def _left(pids: set[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p)
            and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="module")
def ddp(tmp_path_factory) -> dict:
    """W=1 references (batch statistics per replica: 2 shards; and a wrong one: 1) and W=2."""
    base = tmp_path_factory.mktemp("ddp")
    ref = prepare(tiny_spec(base / "ref2", "pytorch", "resnet", 1, ref_shards=2))
    wrong = tiny_spec(base / "ref1", "pytorch", "resnet", 1, size=ref.size,
                      input_shape=ref.input_shape, num_classes=ref.num_classes)
    two = tiny_spec(base / "w2", "pytorch", "resnet", 2, size=ref.size,
                    input_shape=ref.input_shape, num_classes=ref.num_classes)
    out = {}
    with SocketWatch() as watch:
        for name, s in (("ref", ref), ("wrong", wrong), ("two", two)):
            share_inputs(ref, s)
            out[name] = (s, launch(s, timeout_s=240))
    out["watch"] = watch
    out["n"] = len(np.load(ref.dir / "data.npz")["y"])
    return out


def test_ddp_step_equals_the_one_process_step_and_a_wrong_reference_is_caught(ddp):
    for name in ("ref", "wrong", "two"):
        assert ddp[name][1].ok, ddp[name][1].error
    (ref, _), (wrong, _), (two, res) = ddp["ref"], ddp["wrong"], ddp["two"]
    g = gate(ref.dir, two.dir, 1e-5, two, res.ranks, ddp["n"])
    assert g.passed and g.shards_ok and g.max_abs <= 1e-5, g.detail
    # the full-batch step (one set of BatchNorm statistics) is not what DDP computes
    bad = gate(wrong.dir, two.dir, 1e-5, two, res.ranks, ddp["n"])
    assert not bad.passed and bad.max_abs > 1e-5, bad.detail
    # and a rank whose weights differ is caught: perturb one trained weight of the W=2 step
    with np.load(two.dir / "gate.npz") as d:
        w = {k: d[k] for k in d.files}
    k = next(k for k in w if k.endswith("weight") and w[k].size)
    w[k] = w[k] + 1e-3
    moved = two.dir / "moved"
    moved.mkdir()
    np.savez(moved / "gate.npz", **w)
    assert not gate(ref.dir, moved, 1e-5, two, res.ranks, ddp["n"]).passed


def test_the_noise_floor_probe_moves_the_step_by_rounding_only(ddp, tmp_path):
    """One ulp on every initial weight: the reference step moves, by far less than the gate's
    1e-5 for DDP on a tiny net (whose W=2 step matches to the bit), so the gate stays strict."""
    from dataclasses import replace

    from twinbench.distributed.launch import free_port
    from twinbench.distributed.prepare import nudge_init, weight_distance

    ref, _ = ddp["ref"]
    probe = replace(ref, workdir=str(tmp_path / "floor"), steps=0, warmup=0,
                    master_port=free_port())
    share_inputs(ref, probe)
    nudge_init(probe)
    with np.load(ref.dir / "init.npz") as a, np.load(probe.dir / "init.npz") as b:
        assert any(np.any(a[k] != b[k]) for k in a.files)
    assert launch(probe, timeout_s=120).ok
    floor = weight_distance(ref.dir, probe.dir)
    assert 0 < floor < 1e-5, floor


def test_ranks_take_disjoint_shards_whose_union_is_the_global_batch(ddp):
    two, res = ddp["two"]
    ids = [set(r["gate_ids"]) for r in res.ranks]
    assert len(ids) == 2 and not ids[0] & ids[1]
    assert len(ids[0] | ids[1]) == two.global_batch
    assert check_shards(two, res.ranks, ddp["n"])[0]
    same = [dict(r, gate_ids=res.ranks[0]["gate_ids"]) for r in res.ranks]
    ok, why = check_shards(two, same, ddp["n"])
    assert not ok and "share" in why


def test_every_step_has_a_time_and_no_socket_leaves_loopback(ddp):
    two, res = ddp["two"]
    for r in res.ranks:
        assert len(r["step_end"]) == two.total_steps and r["peak_rss"] > 0
        assert r["info"]  # what ran: launcher, backend, threads
    watch = ddp["watch"]
    assert watch.addresses, "the watcher saw no socket at all: it checks nothing"
    assert not watch.outside_loopback(), watch.addresses
    assert "127.0.0.1" in watch.addresses
    assert not _loopback("10.0.0.1") and _loopback("::ffff:127.0.0.1")
    assert not _left(watch.pids)


def test_a_crashed_rank_ends_the_launch_with_its_log_and_leaves_no_process(tmp_path,
                                                                          monkeypatch):
    spec = prepare(tiny_spec(tmp_path / "crash", "pytorch", "resnet", 2))
    monkeypatch.setenv(CRASH_VAR, "1:2")  # rank 1 dies after its second step
    with SocketWatch() as watch:
        t = time.monotonic()
        res = launch(spec, timeout_s=120)
    assert not res.ok and time.monotonic() - t < 100  # ended by the crash, not the timeout
    assert "exited with code" in (res.error or "") and "---" in (res.error or "")
    assert not _left(watch.pids)


def test_a_launch_past_its_timeout_is_killed(tmp_path):
    spec = prepare(tiny_spec(tmp_path / "slow", "pytorch", "resnet", 2))
    with SocketWatch() as watch:
        res = launch(spec, timeout_s=2)
    assert not res.ok and "timed out after 2 s" in (res.error or "")
    assert res.wall_s < 30 and not _left(watch.pids)


# every framework's own launcher (and PyTorch's pipeline) on a tiny twin: the W=2 step equals
# the one-process reference step, the shards are right, nothing leaves loopback, nothing is left
LAUNCHERS = {
    "lightning": dict(framework="lightning", model="resnet"),  # BatchNorm per replica
    "keras-jax": dict(framework="keras-jax", model="transformer"),  # SPMD: global batch
    "pytorch-pipeline": dict(framework="pytorch", model="transformer", variant="pipeline",
                             schedule="gpipe", microbatches=2),
}


@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_each_launcher_passes_the_gate_on_loopback(name, tmp_path):
    import importlib

    from twinbench.distributed.launch import RANK_MODULES

    kw = dict(LAUNCHERS[name])
    fw, model = kw.pop("framework"), kw.pop("model")
    stats = importlib.import_module(RANK_MODULES[fw]).BATCH_STATS
    shards = kw.get("microbatches", 2) if stats == "replica" or "variant" in kw else 1
    ref = prepare(tiny_spec(tmp_path / "ref", fw, model, 1, ref_shards=shards))
    two = tiny_spec(tmp_path / "w2", fw, model, 2, size=ref.size, input_shape=ref.input_shape,
                    num_classes=ref.num_classes, **kw)
    share_inputs(ref, two)
    with SocketWatch() as watch:
        for s in (ref, two):
            res = launch(s, timeout_s=240)
            assert res.ok, res.error
    n = len(np.load(ref.dir / "data.npz")["y"])
    g = gate(ref.dir, two.dir, 1e-5, two, res.ranks, n)
    assert g.passed and g.shards_ok, g.detail
    assert all(len(r["step_end"]) == two.total_steps for r in res.ranks)
    assert not watch.outside_loopback(), watch.addresses
    assert not _left(watch.pids)
    if two.variant == "pipeline":
        assert all(len(r["busy_s"]) == two.total_steps for r in res.ranks)
        assert {r["stage"] for r in res.ranks} == {0, 1}


def test_the_spec_round_trips(tmp_path: Path):
    s = tiny_spec(tmp_path, "pytorch", world=2, variant="pipeline", schedule="1f1b",
                  microbatches=4)
    s.save(tmp_path / "spec.json")
    assert RankSpec.load(tmp_path / "spec.json") == s
    assert CRASH_CODE != 0
