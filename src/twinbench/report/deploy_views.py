"""The views of the two deployment scenarios (export-mobile, export-web): a route table each,
in place of the generic per-metric tables and charts (their records are per route variant)."""

from __future__ import annotations

from twinbench.report.mobile import MOBILE_HEADERS, NOTE, mobile_tables, print_mobile
from twinbench.report.route_table import RouteTable
from twinbench.report.views import View
from twinbench.report.web import packages, print_web, web_tables
from twinbench.results.schema import Record

WEB_COLUMNS = ["runtime", "backend", "from", "status", "model", "runtime bytes", "gzip (both)",
               "load ms", "1st ms", "p50 ms [95% CI]", "p90 ms", "max|Δ|"]


def mobile_route_tables(records: list[Record]) -> list[RouteTable]:
    return [RouteTable(f"Phone deployment: {title}", list(MOBILE_HEADERS),
                       [list(r.cells) for r in mrows], [*notes, NOTE])
            for title, mrows, notes in mobile_tables(records)]


def web_route_tables(records: list[Record]) -> list[RouteTable]:
    out = []
    for title, wrows in web_tables(records):
        cells = [[r.runtime, r.backend, r.framework, r.status + (f": {r.reason}" if r.reason
                                                                  else ""),
                  r.model, r.runtime_bytes, r.download_gz, r.load, r.first,
                  f"{r.p50} {r.p50_ci}".strip(), r.p90, r.parity] for r in wrows]
        out.append(RouteTable(f"Browser deployment: {title}", WEB_COLUMNS, cells,
                              packages(records)))
    return out


MOBILE = View("Mobile and web deployment", generic_tables=False, generic_charts=False,
              in_summary=False, terminal=print_mobile, tables=mobile_route_tables)
WEB = View("Mobile and web deployment", generic_tables=False, generic_charts=False,
           in_summary=False, terminal=print_web, tables=web_route_tables)
