"""The serve scenario's view: one table per model, backend × server, and what is not here.

Its records are per pair (variant ``<backend>@<server>``; export records per backend), so they
replace the generic tables and charts and count for no summary win (C8's rule reads them).
Columns: export s and artifact MB (per backend), cold start, HTTP parity, single-stream p50
[CI], p50 / p99 [CI] at each common offered rate, the highest rate within the p99 bound,
memory (PSS of the process tree), process count; a failed pair shows its first error line.
"""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console

from twinbench.analysis.text import fmt, fmt_ci
from twinbench.report.route_table import RouteTable
from twinbench.report.views import View, print_tables
from twinbench.results.schema import Record

SCENARIO = "serve"
TIER = {"aiohttp": 0, "litserve": 1, "ray-serve": 2}
BACKEND_ORDER = ["torch-eager", "aoti", "onnx-torch", "savedmodel", "onnx-keras", "keras-jax"]
NOTES = [
    "One server process tree pinned to one core with 1 thread per library; the open-loop "
    "Poisson client runs on the other core. Latency counts from each request's *scheduled* "
    "send time (queueing is not hidden); warm-up requests are not counted. Offered rates are "
    "common to every pair: fractions of the slowest pair's single-stream capacity.",
    "Intervals: bootstrap over the requests of one run (they do not cover run-to-run "
    "variation). Memory: PSS summed over the server's processes (shared pages once).",
    "aiohttp = the neutral front end (one process, the model called on its event loop); "
    "LitServe and Ray Serve run as shipped (their own API, worker, controller processes).",
]


def _records(records: list[Record]) -> list[Record]:
    return [r for r in records if r.scenario == SCENARIO]


def _val(r: Record | None, unit: str = "", ci: bool = False) -> str:
    if r is None or r.value is None:
        return ""
    return f"{fmt(r.value, unit)} {fmt_ci(r)}".strip() if ci else fmt(r.value, unit)


def _lost(r: Record | None) -> str:
    """"N timed out, M failed" of one open-loop run, or ""."""
    if r is None:
        return ""
    t, e = int(r.extra.get("timeouts") or 0), int(r.extra.get("errors") or 0)
    parts = [f"{t} of {r.extra.get('queries')} timed out" if t else "",
             f"{e} failed" if e else ""]
    return ", ".join(p for p in parts if p)


def _rates(recs: list[Record]) -> list[tuple[str, float]]:
    """(tag, offered q/s) of the common rates, from the records' own extras."""
    found: dict[str, float] = {}
    for r in recs:
        if r.metric.startswith("latency_p50_at_") and r.status == "ok":
            found.setdefault(r.metric.removeprefix("latency_p50_at_"),
                             float(r.extra.get("offered_qps", 0)))
    return sorted(found.items(), key=lambda kv: kv[1])


def serve_tables(records: list[Record]) -> list[RouteTable]:
    recs = _records(records)
    by_model: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in recs:
        by_model[(r.model, r.mode)].append(r)
    out = []
    for (model, mode), rs in sorted(by_model.items()):
        rates = _rates(rs)
        export: dict[str, dict[str, Record]] = defaultdict(dict)
        pairs: dict[str, dict[str, Record]] = defaultdict(dict)
        for r in rs:
            v = r.variant or ""
            if "@" in v:
                pairs[v]["failed" if r.status == "failed" else r.metric] = r
            elif r.metric in ("export_time", "artifact_size"):
                export[v]["failed" if r.status == "failed" else r.metric] = r
        cols = ["framework", "backend", "server", "export s", "artifact MB", "cold start s",
                "HTTP max |Δ|", "single-stream p50 ms [CI]"]
        for tag, q in rates:
            cols += [f"p50 ms @ {q:.0f}/s ({tag})", f"p99 ms [CI] @ {q:.0f}/s ({tag})"]
        bound = next((r.extra.get("latency_bound_ms") for r in rs
                      if r.metric == "max_qps_within_bound"), None)
        cols += [f"max q/s, p99 ≤ {fmt(bound)} ms" if bound else "max q/s within bound",
                 "memory MiB", "processes"]
        rows: list[tuple[tuple, list[str]]] = []
        for v, m in pairs.items():
            backend, server = v.split("@", 1)
            any_r = next(iter(m.values()))
            ex = export.get(backend, {})
            head = [any_r.framework, backend, server, _val(ex.get("export_time")),
                    _val(ex.get("artifact_size"))]
            key = (TIER.get(server, 9), BACKEND_ORDER.index(backend)
                   if backend in BACKEND_ORDER else 99)
            if "failed" in m and "latency_single_stream" not in m:
                err = (m["failed"].error or "failed").splitlines()[0][:200]
                rows.append((key, head + ["FAILED: " + err] + [""] * (len(cols) - 6)))
                continue
            cells = head + [_val(m.get("cold_start")), _val(m.get("http_max_abs_diff")),
                            _val(m.get("latency_single_stream"), ci=True)]
            for tag, _ in rates:
                p99 = m.get(f"latency_p99_at_{tag}")
                lost = _lost(p99)
                cells += [_val(m.get(f"latency_p50_at_{tag}")),
                          _val(p99, ci=True) + (f" ({lost})" if lost else "")]
            mx = m.get("max_qps_within_bound")
            procs = m.get("processes")
            cells += [_val(mx) if mx else ("FAILED: " + (m["failed"].error or "")[:120]
                                           if "failed" in m else ""),
                      _val(m.get("server_memory")),
                      str(int(procs.value)) if procs and procs.value is not None else ""]
            rows.append((key, cells))
        for b, m in export.items():  # a backend that never reached a server
            if "failed" in m and not any(k.startswith(b + "@") for k in pairs):
                err = (m["failed"].error or "failed").splitlines()[0][:200]
                rows.append(((9, 99), [m["failed"].framework, b, "—", "FAILED: " + err]
                             + [""] * (len(cols) - 4)))
        notes = list(NOTES)
        ser = next((r for r in rs if r.metric == "serialisation_time"), None)
        if ser is not None and ser.value is not None:
            notes.append(f"Request encoding (JSON + base64 float32, "
                         f"{ser.extra.get('request_bytes', '?')} B per request): encode + "
                         f"decode of one request and one answer {fmt(ser.value, 'us')} "
                         "in process; it is inside every latency above.")
        for r in rs:
            if r.metric == "server_memory" and r.warnings:
                notes.append(f"{r.variant}: " + "; ".join(w.text for w in r.warnings))
        for r in rs:
            if r.metric == "available":
                notes.append(f"{r.variant}: not run — {r.extra.get('reason', '')}")
        out.append(RouteTable(f"Serving over HTTP · {model} · {mode}", cols,
                              [c for _, c in sorted(rows)], notes))
    return out


def print_serve(records: list[Record], console: Console) -> None:
    print_tables(serve_tables(records), console)


VIEW = View("Serving under load", generic_tables=False, generic_charts=False,
            in_summary=False, terminal=print_serve, tables=serve_tables)
