"""The views of the two deployment scenarios (export-mobile, export-web): a route table each,
in place of the generic per-metric tables and charts (their records are per route variant)."""

from __future__ import annotations

from twinbench.report.route_table import RouteTable
from twinbench.report.views import View
from twinbench.results.schema import Record

WEB_COLUMNS = ["runtime", "backend", "from", "status", "model", "runtime bytes", "gzip (both)",
               "load ms", "1st ms", "p50 ms [95% CI]", "p90 ms", "max|Δ|"]


def mobile_route_tables(records: list[Record]) -> list[RouteTable]:
    from twinbench.report.mobile import MOBILE_HEADERS, NOTE, mobile_tables

    return [RouteTable(f"Phone deployment: {title}", list(MOBILE_HEADERS),
                       [list(r.cells) for r in mrows], [*notes, NOTE])
            for title, mrows, notes in mobile_tables(records)]


def web_route_tables(records: list[Record]) -> list[RouteTable]:
    from twinbench.report.web import packages, web_tables

    out = []
    for title, wrows in web_tables(records):
        cells = [[r.runtime, r.backend, r.framework, r.status + (f": {r.reason}" if r.reason
                                                                  else ""),
                  r.model, r.runtime_bytes, r.download_gz, r.load, r.first,
                  f"{r.p50} {r.p50_ci}".strip(), r.p90, r.parity] for r in wrows]
        out.append(RouteTable(f"Browser deployment: {title}", WEB_COLUMNS, cells,
                              packages(records)))
    return out


def _print_mobile(records: list[Record], console: object) -> None:
    from twinbench.report.mobile import print_mobile

    print_mobile(records, console)  # type: ignore[arg-type]


def _print_web(records: list[Record], console: object) -> None:
    from twinbench.report.web import print_web

    print_web(records, console)  # type: ignore[arg-type]


MOBILE = View("Mobile and web deployment", generic_tables=False, generic_charts=False,
              in_summary=False, terminal=_print_mobile, tables=mobile_route_tables)
WEB = View("Mobile and web deployment", generic_tables=False, generic_charts=False,
           in_summary=False, terminal=_print_web, tables=web_route_tables)
