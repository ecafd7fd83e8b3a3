"""The serving load client against a backend of known service time (``fake``: sleeps 5 ms),
real HTTP servers on 127.0.0.1: p50 is the service time plus HTTP; above capacity the p99
grows with run length (latency counts from the scheduled send, so the queue is not hidden);
sockets stay on loopback; nothing outlives teardown or a crash mid-run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil
import pytest

from twinbench.serving import control
from twinbench.serving.protocol import request

pytestmark = pytest.mark.timeout(300)
SERVICE_S = 0.005
EPSILON_MS = 3.0  # HTTP + JSON/base64 of one 32x32x3 request (about 1.3 ms here, idle)


def _payload(d: Path) -> Path:
    p = d / "payload.json"
    p.write_bytes(request(np.zeros((1, 32, 32, 3), np.float32)))
    return p


def _run(srv: control.Server, payload: Path, d: Path, **plan) -> dict:
    _, client_cpu = control.cpus()
    return control.run_client({"url": srv.url, "payload": str(payload), **plan}, d, client_cpu,
                              120)


def _gone(pids: list[int]) -> bool:
    return not [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    d = tmp_path_factory.mktemp("fake")
    payload = _payload(d)
    srv = control.start("aiohttp", "fake", {"delay_s": SERVICE_S}, d, control.cpus()[0], None)
    control.first_answer(srv, payload.read_bytes(), 60)
    yield srv, payload, d
    pids = [p.pid for p in control.tree(srv.proc.pid)]
    assert control.stop(srv) == []
    assert _gone(pids)


def test_p50_is_the_service_time_plus_http(fake):
    srv, payload, d = fake
    r = _run(srv, payload, d, mode="open", rate=20, n=130, seed=1, warmup=10)
    lat = 1e3 * np.array(r["latencies_s"])
    assert r["errors"] == 0 and r["timeouts"] == 0 and r["counted"] == 120
    assert len(lat) == 120
    assert 1e3 * SERVICE_S <= np.percentile(lat, 50) <= 1e3 * SERVICE_S + EPSILON_MS
    assert r["median_start_delay_s"] < 1e-3  # requests leave on schedule


def test_p99_grows_with_run_length_above_capacity(fake):
    srv, payload, d = fake
    closed = _run(srv, payload, d, mode="closed", warmup=5, min_queries=40, min_s=0.2)
    capacity = 1 / float(np.median(closed["latencies_s"]))
    rate = 2 * capacity  # offered twice what it can answer: the queue grows all run long
    short = _run(srv, payload, d, mode="open", rate=rate, n=100, seed=2, timeout_s=30)
    long = _run(srv, payload, d, mode="open", rate=rate, n=300, seed=2, timeout_s=30)
    p99s, p99l = (np.percentile(x["latencies_s"], 99) for x in (short, long))
    # a closed-loop client would report about the service time whatever the length: an open
    # one sees request k wait for the k/2 before it (arrival rate twice the service rate)
    assert p99s > 10 * SERVICE_S
    assert p99l > 2 * p99s
    assert short["errors"] == long["errors"] == 0


def test_requests_leave_on_schedule_under_overload(fake):
    """At 400/s against a 5 ms server (capacity ~150/s) the client still sends every request
    at its scheduled time (it never waits for an answer first): a client that held requests
    back would show large start delays here and hide the queue from the latencies."""
    srv, payload, d = fake
    r = _run(srv, payload, d, mode="open", rate=400, n=120, seed=3, timeout_s=30)
    assert r["median_start_delay_s"] < 2e-3
    assert r["max_send_lateness_s"] < 0.05


def test_sockets_stay_on_loopback_and_litserve_leaves_nothing(tmp_path):
    payload = _payload(tmp_path)
    srv = control.start("litserve", "fake", {"delay_s": SERVICE_S}, tmp_path,
                        control.cpus()[0], None)
    try:
        control.first_answer(srv, payload.read_bytes(), 120)
        r = _run(srv, payload, tmp_path, mode="open", rate=20, n=30, seed=4)
        assert r["errors"] == 0
        socks = control.sockets(srv.proc.pid)
        assert socks and control.off_loopback(socks) == [], socks
        mib, n = control.memory(srv.proc.pid)
        assert n >= 2 and mib > 0  # LitServe's API server and its worker
        pids = [p.pid for p in control.tree(srv.proc.pid)]
    finally:
        left = control.stop(srv)
    assert left == [] and _gone(pids)


def test_off_loopback_catches_a_wildcard_or_external_socket():
    socks = [{"pid": 1, "local": "127.0.0.1", "remote": "127.0.0.1", "status": "ESTABLISHED"},
             {"pid": 1, "local": "::", "remote": None, "status": "LISTEN"},
             {"pid": 1, "local": "192.0.2.2", "remote": "192.0.2.2", "status": "ESTABLISHED"}]
    assert [s["local"] for s in control.off_loopback(socks)] == ["::", "192.0.2.2"]


def test_a_server_crash_mid_run_is_an_error_count_not_a_hang(tmp_path):
    payload = _payload(tmp_path)
    srv = control.start("aiohttp", "fake", {"delay_s": SERVICE_S, "crash_after": 20}, tmp_path,
                        control.cpus()[0], None)
    try:
        control.first_answer(srv, payload.read_bytes(), 60)
        r = _run(srv, payload, tmp_path, mode="open", rate=50, n=100, seed=5, timeout_s=5)
        assert r["errors"] > 50 and len(r["latencies_s"]) < 25  # failed requests: no latency
        assert srv.proc.poll() == 70
    finally:
        assert control.stop(srv) == []
