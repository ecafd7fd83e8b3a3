"""The load client, in a process of its own (pinned to the other core by ``control``).

    python -m twinbench.serving.client PLAN.json OUT.json

``closed``: one request after another on one kept-alive connection (single-stream latency;
capacity = 1 / its median). ``open``: an open-loop Poisson schedule (seeded exponential
gaps): each request is sent at its scheduled time whatever the earlier ones did, on as many
connections as it takes, and its latency is completion − *scheduled* time, so a server that
falls behind shows the queue in the tail instead of hiding it (no coordinated omission). The
first ``warmup`` requests are sent but not counted. A request not answered within
``timeout_s`` counts as a timeout (its latency as ``timeout_s``, a lower bound); any other
failure (connection refused, non-200) as an error, with no latency.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SPIN_S = 0.002


def schedule(rate: float, n: int, seed: int) -> np.ndarray:
    """Scheduled send times (s from the start) of ``n`` requests at ``rate`` per second."""
    from twinbench.measure.loadgen import poisson_arrivals

    return poisson_arrivals(rate, n, np.random.default_rng(seed))


async def _open(url: str, body: bytes, due: np.ndarray, warmup: int,
                timeout_s: float) -> dict[str, Any]:
    import aiohttp

    n = len(due)
    lat = np.full(n, np.nan)
    began = np.full(n, np.nan)  # when each request's coroutine started, minus its schedule
    status = ["" for _ in range(n)]
    loop = asyncio.get_running_loop()
    late = 0.0

    async def fire(session: aiohttp.ClientSession, i: int, at: float) -> None:
        began[i] = loop.time() - at
        try:
            async with session.post(url, data=body,
                                    headers={"Content-Type": "application/json"}) as r:
                await r.read()
                status[i] = "ok" if r.status == 200 else f"http {r.status}"
        except TimeoutError:
            status[i] = "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            status[i] = type(exc).__name__
        lat[i] = min(loop.time() - at, timeout_s) if status[i] != "timeout" else timeout_s

    conn = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        start = loop.time() + 0.05
        tasks = []
        for i, d in enumerate(due):
            at = start + float(d)
            wait = at - loop.time()
            if wait > SPIN_S:  # the loop's timer fires up to ~1 ms late: sleep short of the
                await asyncio.sleep(wait - SPIN_S)  # send time, then poll (answers to
            while loop.time() < at:  # requests in flight are still read meanwhile) on
                await asyncio.sleep(0)  # the client's own core
            late = max(late, loop.time() - at)
            tasks.append(asyncio.create_task(fire(session, i, at)))
        await asyncio.gather(*tasks)
        wall = loop.time() - start
    counted = slice(warmup, n)
    st = status[counted]
    # answered requests, and timed-out ones at the timeout (a lower bound); a refused or
    # failed request has no latency to report: it counts in ``errors``
    kept = [float(v) for v, s in zip(lat[counted], st, strict=True) if s in ("ok", "timeout")]
    return {"latencies_s": kept, "sent": n, "counted": len(st),
            "errors": sum(s not in ("ok", "timeout") for s in st),
            "timeouts": st.count("timeout"), "error_kinds": sorted(set(st) - {"ok"}),
            "max_send_lateness_s": late, "wall_s": wall,
            "median_start_delay_s": float(np.median(began[counted])) if len(st) else 0.0}


async def _closed(url: str, body: bytes, warmup: int, min_queries: int, min_s: float,
                  max_queries: int, timeout_s: float) -> dict[str, Any]:
    import aiohttp

    lat: list[float] = []
    conn = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=conn,
                                     timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        async def one() -> float:
            t = time.perf_counter()
            async with session.post(url, data=body,
                                    headers={"Content-Type": "application/json"}) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}: {(await r.text())[:200]}")
            return time.perf_counter() - t

        for _ in range(warmup):
            await one()
        t0 = time.perf_counter()
        while len(lat) < max_queries and (len(lat) < min_queries
                                          or time.perf_counter() - t0 < min_s):
            lat.append(await one())
    return {"latencies_s": lat}


def run(plan: dict[str, Any]) -> dict[str, Any]:
    body = Path(plan["payload"]).read_bytes()
    if plan["mode"] == "closed":
        return asyncio.run(_closed(plan["url"], body, plan.get("warmup", 10),
                                   plan.get("min_queries", 50), plan.get("min_s", 1.0),
                                   plan.get("max_queries", 5000), plan.get("timeout_s", 30.0)))
    due = schedule(plan["rate"], plan["n"], plan["seed"])
    return asyncio.run(_open(plan["url"], body, due, plan.get("warmup", 0),
                             plan.get("timeout_s", 10.0)))


def main(plan_path: str, out_path: str) -> int:
    from twinbench.atomic import write_atomic

    result = run(json.loads(Path(plan_path).read_text()))
    write_atomic(Path(out_path), json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
