"""The export route table (``twinbench.export.routes``): one row per route, several per framework
family, checked when it is imported; the unavailable PyTorch -> LiteRT route as a record, a
table row and a doctor line. Framework-free: no route module is asked to export anything."""

from __future__ import annotations

import importlib
from dataclasses import replace
from types import SimpleNamespace

import pytest

from twinbench.doctor import route_check
from twinbench.export import mobile_runtime, routes
from twinbench.export.routes import KINDS, ROUTES, Route, check, of_kind, route_of
from twinbench.frameworks.base import FAMILIES, FRAMEWORKS
from twinbench.report.mobile import mobile_tables
from twinbench.results.schema import Record
from twinbench.scenarios import export_mobile

MOBILE_API = ("VARIANTS", "SUFFIX", "to_runtime_layout", "from_runtime_layout", "versions",
              "export")


def test_several_routes_start_from_one_family_and_every_kind_is_known() -> None:
    assert {r.kind for r in ROUTES.values()} <= set(KINDS) and "server" in KINDS
    assert not of_kind("server")  # the serve scenario keeps its backends in serving.backends
    torch_mobile = [r.id for r in of_kind("mobile") if r.family == "pytorch"]
    assert torch_mobile == ["torch-executorch", "torch-litert"]
    for fam in FAMILIES:  # each family reaches a phone and a browser
        assert {r.kind for r in ROUTES.values() if r.family == fam} >= {"mobile", "web"}
    for r in ROUTES.values():
        assert FRAMEWORKS[r.framework].family == r.family  # the worker speaks for the family
        assert r.framework == FRAMEWORKS[r.framework].carrier


@pytest.mark.parametrize("route", list(ROUTES.values()), ids=list(ROUTES))
def test_every_route_module_imports_without_its_framework(route: Route) -> None:
    module = importlib.import_module(route.module)  # frameworks are imported inside functions
    if route.kind == "mobile":
        assert all(hasattr(module, name) for name in MOBILE_API), route.module
        assert route.loader in mobile_runtime.LOADERS
        assert set(mobile_runtime.RUNTIMES[route.loader]) and mobile_runtime.probe_code(
            route.loader)
    elif route.kind == "web":
        from twinbench.web import runtimes as web

        assert web.runtime(route).export in module.EXPORTS


def test_variants_are_unique_per_worker_across_routes() -> None:
    for kind in ("mobile", "web"):
        for fw in FRAMEWORKS:
            prefixes = [r.variant_prefix for r in of_kind(kind, fw)]
            assert len(prefixes) == len(set(prefixes)), (kind, fw)
    executorch, litert = ROUTES["torch-executorch"], ROUTES["torch-litert"]
    ours = {executorch.variant(v) for v in importlib.import_module(executorch.module).VARIANTS}
    theirs = {litert.variant(v) for v in importlib.import_module(litert.module).VARIANTS}
    assert ours == {"fp32", "int8-full"} and not ours & theirs


def test_the_unavailable_route_says_why_and_which_issue() -> None:
    gone = [r for r in ROUTES.values() if not r.available]
    assert [r.id for r in gone] == ["torch-litert"]
    r = gone[0]
    assert "typing-extensions" in (r.unavailable_reason or "") and "xdsl" in r.why_not
    assert r.upstream == "google-ai-edge/LiteRT#8894" and r.upstream in r.why_not
    assert r not in of_kind("mobile", "pytorch", available=True)


@pytest.mark.parametrize("change,error", [
    ({"framework": "pytorch"}, "starts from the keras family but runs in the pytorch worker"),
    ({"family": "tensorflow"}, "family 'tensorflow' not in"),
    ({"kind": "desktop"}, "kind 'desktop' not in"),
    ({"framework": "mxnet"}, "'mxnet' is not a framework"),
    ({"available": False}, "an unavailable route needs unavailable_reason"),
    ({"unavailable_reason": "why"}, "an unavailable route needs unavailable_reason"),
    ({"module": "somewhere.else"}, "is not under twinbench.export"),
])
def test_a_wrong_row_fails_naming_the_route(change: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error) as err:
        replace(ROUTES["keras-litert"], **change)
    assert "'keras-litert'" in str(err.value)


def test_a_route_whose_family_does_not_match_its_worker_is_refused() -> None:
    with pytest.raises(ValueError, match="starts from the pytorch family but runs in the "
                                         "keras-tf worker"):
        Route("torch-wrong", "mobile", "pytorch", "twinbench.export.mobile_executorch",
              "ExecuTorch", "executorch", "PyTorch → ExecuTorch", framework="keras-tf")
    # a Lightning route would run in the lightning worker, of the pytorch family: allowed
    assert Route("lt", "mobile", "pytorch", "twinbench.export.mobile_executorch", "ExecuTorch",
                 "executorch", "Lightning → ExecuTorch", framework="lightning").framework


def test_the_table_refuses_colliding_variants_and_misfiled_rows() -> None:
    twin = replace(ROUTES["torch-litert"], id="torch-litert-2")
    with pytest.raises(ValueError, match="both run in the pytorch worker with variant prefix"):
        check({**ROUTES, twin.id: twin})
    clash = replace(ROUTES["torch-litert"], variant_prefix="")  # its fp32 = ExecuTorch's fp32
    with pytest.raises(ValueError, match="'torch-executorch' and 'torch-litert'"):
        check({**ROUTES, clash.id: clash})
    with pytest.raises(ValueError, match="filed under 'other'"):
        check({"other": ROUTES["keras-litert"]})


def test_mobile_jobs_run_their_workers_routes_and_others_are_told_where(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert [r.id for r in of_kind("mobile", "pytorch")] == ["torch-executorch", "torch-litert"]
    assert of_kind("mobile", "lightning") == []
    why = routes.not_applicable("mobile", "lightning")
    assert "PyTorch → ExecuTorch" in why and "run in the pytorch job" in why
    assert "no mobile route starts from x" in routes.not_applicable("mobile", "x")
    # a pytorch job whose only mobile route is unavailable: one record, before any data; not
    # a failure (nothing broke, and every study of the worker would report one)
    monkeypatch.setattr(routes, "ROUTES", {"torch-litert": ROUTES["torch-litert"]})
    [m] = export_mobile.run(SimpleNamespace(adapter=SimpleNamespace(id="pytorch")))
    assert (m.route, m.variant, m.metric, m.value) == ("torch-litert", None, "status", None)
    assert not isinstance(m, export_mobile.Failed)
    assert m.extra["why"] == ROUTES["torch-litert"].why_not
    assert m.extra["state"] == "unavailable" and m.extra["upstream"]


def _rec(framework: str, metric: str, value: float | None, **kw: object) -> Record:
    fields: dict[str, object] = {"scenario": "export-mobile", **kw}
    return Record(study="s", run_id="r", job_id="j", task="image-classification", model="resnet",
                  framework=framework, backend="torch", metric=metric, unit="", value=value,
                  threads=1, **fields)  # type: ignore[arg-type]


def test_the_unavailable_route_is_a_row_of_the_mobile_table() -> None:
    m = export_mobile.unavailable(ROUTES["torch-litert"])
    rec = _rec("pytorch", m.metric, m.value, route=m.route, extra=m.extra)
    assert rec.name == "status"
    [(_, [row], _)] = mobile_tables([rec])
    assert (row.runtime, row.route, row.framework, row.status) == (
        "LiteRT", "torch-litert", "pytorch", "unavailable")
    assert "typing-extensions" in row.reason
    assert row.reason.endswith("(upstream: google-ai-edge/LiteRT#8894)")


def test_v1_records_find_their_route_by_worker_and_variant() -> None:
    assert route_of(_rec("pytorch", "status", 1.0, variant="fp32")) == "torch-executorch"
    assert route_of(_rec("pytorch", "status", 1.0, variant="litert-fp32")) == "torch-litert"
    assert route_of(_rec("keras-tf", "status", 1.0, variant="int8-dynamic")) == "keras-litert"
    web = {"scenario": "export-web", "variant": "tfjs-wasm-1t"}
    assert route_of(_rec("keras-tf", "status", 1.0, **web)) == "keras-tfjs"
    assert route_of(_rec("keras-tf", "convert_time", 1.0, scenario="export-web",
                         variant="litert")) == "keras-litert-js"
    assert route_of(_rec("pytorch", "status", 1.0, route="torch-litert")) == "torch-litert"
    assert route_of(_rec("keras-jax", "status", None)) is None  # not-applicable: no route


def test_doctor_lists_every_route_of_the_table_and_an_unavailable_one_fails_nothing() -> None:
    gone = route_check(ROUTES["torch-litert"], ("mobile",))
    assert not gone.ok and gone.needed_by == ()  # listed, never a failure of --strict
    assert gone.detail.startswith("PyTorch → LiteRT (.tflite, litert-torch): unavailable "
                                  "(upstream: google-ai-edge/LiteRT#8894): litert-torch 0.10")
    missing = replace(ROUTES["torch-ort-web"], pip=("no-such-dist-twinbench",))
    c = route_check(missing, ("web",))
    assert not c.ok and c.needed_by == ("web",) and "no-such-dist-twinbench" in c.detail
