"""Code brevity counts on fixture code; the offline model-registry search (fixture packages and
the pinned registries themselves) and claim C11 on its counts."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version

import pytest

from conftest import require
from twinbench import brevity, zoos
from twinbench.analysis.claims.base import (
    CONFIRMED,
    INCONCLUSIVE,
    NOT_MEASURED,
    REFUTED,
    Evidence,
)
from twinbench.analysis.claims.ecosystem import c11
from twinbench.brevity import CATEGORIES, Count, categorize, family_table, measure_source
from twinbench.zoos import Hit, ZooResult

LOOP = textwrap.dedent('''
    """Module docstring: not counted."""
    from __future__ import annotations

    import torch  # comments are not counted


    def fit(net, x, y, opt, loss_fn, device):
        """Docstring: not counted."""
        net.train()
        for xb, yb in zip(x, y):
            xb = xb.to(device)
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
        return float(loss.detach())
''')


def test_counts_and_categories_on_a_fixture_loop():
    c = Count("toy", "pytorch")
    measure_source(LOOP, "training loop", c)
    # import, def, net.train, for, xb.to, zero_grad, loss=, backward, step, return
    assert sum(c.statements.values()) == 10
    assert c.statements["device handling"] == 1  # xb.to(device)
    assert c.statements["metrics"] == 1  # float(loss.detach())
    assert c.statements["training loop"] == 8
    assert c.cc == 2  # one function with one loop
    assert c.lloc == 10  # radon, docstrings and __future__ stripped
    assert c.sloc == 11  # as written (with __future__), without comments, docstrings, blanks
    assert c.tokens == sum(c.tokens_by.values())
    assert c.tokens_by["device handling"] == len(["xb", "=", "xb", ".", "to", "(", "device", ")"])


def test_harness_keywords_and_export_timing_are_not_counted():
    named, plain = Count("m", "keras"), Count("m", "keras")
    measure_source('x = layers.Dense(10, name=_name("fc"), data_format="channels_last")(x)\n',
                   "model definition", named)
    measure_source("x = layers.Dense(10)(x)\n", "model definition", plain)
    assert named.tokens == plain.tokens and named.lloc == plain.lloc == 1
    timed = Count("m", "keras")
    measure_source("t0 = time.perf_counter()\nnet.export(path)\nexport_s = "
                   "time.perf_counter() - t0\n", "export", timed)
    assert timed.statements["export"] == 1


@pytest.mark.parametrize(("stmt", "default", "want"), [
    ("return out.cpu().numpy()", "inference", "device handling"),
    ("loader = DataLoader(TensorDataset(x, y), batch_size=bs)", "training loop",
     "data pipeline"),
    ("self.log('train_loss', loss)", "training loop", "metrics"),
    ("opt.zero_grad()", "training loop", "training loop"),
    ("x = torch.from_numpy(a).to(device)", "export", "export"),
])
def test_line_rules(stmt, default, want):
    assert categorize(stmt, default) == want


def test_family_table_covers_the_real_twins():
    table = family_table(["resnet"])
    styles = {c.style for c in table}
    assert {"pytorch", "keras"} <= styles
    for c in table:
        assert c.core_statements > 20 and c.statements["model definition"] > 10
        assert set(c.statements) == set(CATEGORIES)
        assert sum(c.statements.values()) == c.core_statements + c.statements["export"]
    assert brevity.measure("no-such-model", "pytorch") is None


def test_absent_zoos_are_reported_as_not_installed_not_as_no_such_model():
    fake = {"ghostzoo": ("twinbench_no_such_pkg", "twinbench-no-such-zoo", lambda q: [])}
    (res,) = zoos.search("detr", fake)
    assert res.state == "not installed" and res.hits == []
    assert "how to add twinbench-no-such-zoo" in res.note
    avail = zoos.availability([res])
    assert all(v.startswith("unknown") for v in avail.values())


def test_a_zoo_that_breaks_is_reported_not_fatal():
    def boom(query):
        raise RuntimeError("operator torchvision::nms does not exist")

    (res,) = zoos.search("resnet50", {"keras.applications": ("keras", "keras", boom)})
    assert res.state == "broken" and "nms does not exist" in res.note


def test_keras_applications_are_searched_statically():
    (res,) = [z for z in zoos.search("resnet50") if z.zoo == "keras.applications"]
    assert res.state == "installed"
    names = {h.name: h for h in res.hits}
    assert names["keras.applications.ResNet50"].pretrained is True
    assert zoos.search("no-such-net-xyz")[-1].hits == []


def test_transformers_mapping_is_read_without_importing(tmp_path, monkeypatch):
    pkg = tmp_path / "transformers"
    (pkg / "models" / "auto").mkdir(parents=True)
    (pkg / "models" / "detr").mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (pkg / "models" / "auto" / "modeling_auto.py").write_text(
        'MODEL_MAPPING_NAMES = OrderedDict([("detr", "DetrModel"), ("bert", "BertModel")])\n')
    (pkg / "models" / "detr" / "configuration_detr.py").write_text(
        '@auto_docstring(checkpoint="facebook/detr-resnet-50")\nclass DetrConfig: ...\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    hits = zoos._transformers("detr")
    assert [(h.ecosystem, h.name, h.pretrained) for h in hits] == [
        ("PyTorch", "DetrModel", True), ("TensorFlow", "(none)", None)]
    assert "facebook/detr-resnet-50" in hits[0].detail


def _registries_or_skip() -> None:
    """The pinned registries (docs/models.md) are part of setup: CI fails without them."""
    missing = []
    for name, (package, dist, _) in zoos.ZOOS.items():
        if name in zoos.OPTIONAL:
            continue
        try:
            version(dist)
        except PackageNotFoundError:
            missing.append(dist)
            continue
        if importlib.util.find_spec(package) is None:
            missing.append(dist)
    require("model registries", f"{', '.join(missing)} not installed" if missing else None)


@pytest.fixture(scope="module")
def real():
    """The report's queries searched in the registries installed here (static reads, ~2 s)."""
    from twinbench.analysis.study import ZOO_QUERIES

    _registries_or_skip()
    return {q: zoos.search(q) for q in ZOO_QUERIES}


def _hits(results, zoo):
    (res,) = [z for z in results if z.zoo == zoo]
    assert res.state == "installed", res.note
    return {h.name: h for h in res.hits}


def test_pinned_registries_are_installed_at_their_pins():
    _registries_or_skip()
    pins = zoos.pinned()
    for name, (_, dist, _) in zoos.ZOOS.items():
        if name in zoos.OPTIONAL:
            assert zoos.norm(dist) not in pins  # docs/models.md: no build imports here
        else:
            assert pins[zoos.norm(dist)] == version(dist), dist


def test_real_registries_list_pretrained_variants(real):
    timm = _hits(real["resnet50"], "timm")
    assert {"resnet50.a1_in1k", "resnet50.tv_in1k"} <= set(timm["resnet50"].weights)
    assert timm["resnet50"].pretrained and "wide_resnet50_2" in timm
    assert "keras.applications.ResNet50" in _hits(real["resnet50"], "keras.applications")
    assert _hits(real["resnet50"], "keras_hub")["resnet_50_imagenet"].weights == [
        "resnet_50_imagenet"]
    detr = _hits(real["detr"], "transformers")
    assert "facebook/detr-resnet-50" in detr["DetrForObjectDetection"].weights
    # a model type whose name lacks the size matches through its documented checkpoint
    assert _hits(real["resnet50"], "transformers")["ResNetModel"].weights == [
        "microsoft/resnet-50"]
    assert "bert_base_en_uncased" in _hits(real["bert"], "keras_hub")


def test_real_counts_and_c11_on_the_pinned_registries(real):
    sup = {q: zoos.support(r) for q, r in real.items()}
    assert sup["detr"]["pytorch"].pretrained > 0 and sup["detr"]["keras"].pretrained == 0
    assert sup["detr"]["keras"].exact  # every Keras registry searched, none lists DETR
    assert "transformers" in sup["detr"]["pytorch"].open_zoos  # the Hub has more
    assert sup["resnet50"]["pytorch"].pretrained >= 3 * sup["resnet50"]["keras"].pretrained > 0
    assert sup["unet"]["pytorch"].pretrained == sup["unet"]["keras"].pretrained == 0
    assert any("timm:resnet" in z.bridges for z in real["resnet50"])
    res = c11(Evidence([], None, real))
    assert res.verdict == CONFIRMED and "detr (PyTorch" in res.summary, res.summary
    assert any(ln.startswith("detr: ") and "timm 1.0" in ln and "keras_hub 0." in ln
               for ln in res.evidence)


def test_search_round_trips_json_and_imports_no_framework(real):
    # the report's path (search_isolated): JSON back, weights and bridges included
    back = zoos.from_json(json.loads(json.dumps({"resnet50": [asdict(z) for z in
                                                              real["resnet50"]]})))
    assert back == {"resnet50": real["resnet50"]}
    # the report process must not import a framework for it (docs/models.md)
    proc = zoos.subprocess.run(
        [zoos.sys.executable, "-c", "import sys; from twinbench import zoos; zoos.search('unet');"
         "print(sorted(m for m in ('torch', 'keras', 'tensorflow', 'timm', 'transformers', "
         "'keras_hub') if m in sys.modules))"], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_models_cli_reports_registries_and_counts(cli):
    r = cli("models", "detr", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    for name in ("timm", "transformers", "keras_hub", "keras.applications", "torchvision"):
        assert name in r.stdout
    assert "pretrained variants: PyTorch" in r.stdout
    if importlib.util.find_spec("torchvision") is None:
        assert "not in the pinned set" in r.stdout


def test_pinned_registry_missing_is_a_failure_not_no_such_model():
    _registries_or_skip()  # needs timm's pin in the lock and its metadata
    (res,) = zoos.search("detr", {"timm": ("twinbench_no_such_pkg", "timm", zoos._timm)})
    assert res.state == "not installed" and "pinned as timm==" in res.note
    sup = zoos.support([res])
    assert not sup["pytorch"].exact and sup["pytorch"].failed


def test_a_registry_whose_catalogue_is_unreadable_is_broken(tmp_path, monkeypatch):
    _registries_or_skip()
    (tmp_path / "keras_hub" / "src" / "models").mkdir(parents=True)
    (tmp_path / "keras_hub" / "__init__.py").write_text("raise ImportError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (res,) = zoos.search("bert", {"keras_hub": ("keras_hub", "keras-hub", zoos._keras_hub)})
    assert res.state == "broken" and "no preset files" in res.note


def test_drop_and_unwrap_remove_harness_statements():
    src = textwrap.dedent('''
        def fit(self, loader):
            if len(loader) == 0:
                raise ValueError("no batch")
            if self._opt is None:
                self._opt = make()
            trainer.fit(self, loader)
            net.to(self.device)
    ''')
    plain, cut = Count("m", "lightning"), Count("m", "lightning")
    measure_source(src, "training loop", plain)
    measure_source(src, "training loop", cut, drop=(r"^if len\(loader\) == 0:$",
                                                    r"^net\.to\(self\.device\)$"),
                   unwrap=(r"^if self\._opt is None:$",))
    assert sum(plain.statements.values()) == 7
    assert sum(cut.statements.values()) == 3  # def, self._opt = make(), trainer.fit
    assert cut.statements["device handling"] == 0 and cut.cc == 1


def test_no_harness_rule_is_stale():
    # a rule that matches nothing means the adapter changed and harness code is counted again
    assert brevity.stale_rules() == []


def test_detr_counts_its_backbone_on_both_sides_and_keras_host_call():
    pt, kr = brevity.measure("detr", "pytorch"), brevity.measure("detr", "keras")
    assert pt is not None and kr is not None
    assert {"zoo/pytorch/resnet.py::BasicBlock", "zoo/pytorch/resnet.py::conv3x3"} <= set(pt.files)
    assert {"zoo/keras/resnet.py::_basic_block", "frameworks/keras/host_call.py"} <= set(kr.files)
    alone = Count("detr", "keras")
    measure_source((brevity.PKG / "zoo/keras/detr.py").read_text(), "model definition", alone)
    assert kr.statements["model definition"] > alone.statements["model definition"]
    host = Count("x", "keras")
    measure_source((brevity.PKG / "frameworks/keras/host_call.py").read_text(), "training loop",
                   host)
    resnet_kr = brevity.measure("resnet", "keras")
    assert resnet_kr is not None
    assert kr.statements["training loop"] == resnet_kr.statements["training loop"] + \
        host.statements["training loop"]


TIMM_MODULE = textwrap.dedent('''
    from ._registry import generate_default_cfgs, register_model


    class ResNet:
        def __init__(self):
            raise RuntimeError("never run")


    def _cfg(url="", **kwargs):
        return {"url": url, "num_classes": 1000, **kwargs}


    def _hub_cfg(**kwargs):
        return _cfg(hf_hub_id="timm/", **kwargs)


    _SOURCE = {"vit_tiny.clip": _cfg(), "vit_tiny.in1k": _cfg()}
    default_cfgs = generate_default_cfgs({
        "resnet50.a1_in1k": _hub_cfg(crop_pct=0.95),
        "resnet50.tv_in1k*": _cfg("https://example.org/resnet50.pth"),
        "resnet50.untrained": _cfg(),
        "resnet101": _cfg(url=None),
        "resnet50_gn.a1h_in1k": dict(file="/weights/gn.pth"),
        "unregistered.x": _hub_cfg(),
        **{f"{k.split('.')[0]}{s}.{k.split('.')[1]}": dict(v, hf_hub_id="timm/")
           for k, v in _SOURCE.items() for s in ("", "_enc")},
    })
    default_cfgs["vit_tiny.extra"] = _hub_cfg()


    @register_model
    def resnet50(pretrained=False, **kwargs):
        return ResNet()


    @register_model
    def resnet101(pretrained=False, **kwargs):
        return ResNet()


    @register_model
    def resnet50_gn(pretrained=False, **kwargs):
        return ResNet()


    @register_model
    def vit_tiny(pretrained=False, **kwargs):
        return ResNet()


    @register_model
    def vit_tiny_enc(pretrained=False, **kwargs):
        return ResNet()
''')


def test_timm_registry_is_read_statically_like_list_models(tmp_path, monkeypatch):
    pkg = tmp_path / "timm"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('needs torchvision: never imported')\n")
    (pkg / "models" / "resnet.py").write_text(TIMM_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = zoos._timm_registry(pkg)
    # tags with a weight location (url, file, hf_hub_id; through helpers, **kwargs, a
    # comprehension and a later assignment); the '*' default marker dropped; a dict key
    # expression of the comprehension evaluated; registered names only
    assert reg == {"resnet50": ["resnet50.a1_in1k", "resnet50.tv_in1k"], "resnet101": [],
                   "resnet50_gn": ["resnet50_gn.a1h_in1k"],
                   "vit_tiny": ["vit_tiny.clip", "vit_tiny.extra", "vit_tiny.in1k"],
                   "vit_tiny_enc": ["vit_tiny_enc.clip", "vit_tiny_enc.in1k"]}
    hits = {h.name: h.pretrained for h in zoos._timm("ResNet-50")}
    assert hits == {"resnet50": True, "resnet50_gn": True}  # normalised substring match
    assert {h.name: h.pretrained for h in zoos._timm("resnet1")} == {"resnet101": False}


def _zoo(name, state="installed", **weights_by_hit):
    """A ZooResult of a registry with one hit per keyword: name -> number of weights."""
    eco = {"timm": "PyTorch", "transformers": "PyTorch"}.get(name, "Keras 3")
    hits = [Hit(name, eco, n, k > 0, "", [f"{n}.w{i}" for i in range(k)])
            for n, k in weights_by_hit.items()]
    return ZooResult(name, name, state, "1.0" if state != "not installed" else None,
                     hits if state == "installed" else [], "" if state == "installed"
                     else f"{state}: reason")


def _all(timm=None, transformers=None, keras_hub=None, apps=None, broken=()):
    return [_zoo(z, "broken" if z in broken else "installed", **(w or {}))
            for z, w in (("timm", timm), ("transformers", transformers),
                         ("keras_hub", keras_hub), ("keras.applications", apps))]


@pytest.mark.parametrize(("queries", "verdict", "in_summary"), [
    # weights on one side only (the larger side's failed registry cannot change that)
    ({"detr": _all(transformers={"DetrModel": 2}, broken=("timm",))}, CONFIRMED,
     "detr (PyTorch ≥ 2 vs 0)"),
    # ≥ 3× as many pretrained variants, Keras ahead
    ({"vgg": _all(timm={"vgg": 1}, keras_hub={"vgg_a": 2, "vgg_b": 1})}, CONFIRMED,
     "vgg (Keras 3 / TensorFlow 3 vs 1)"),
    # 2×: comparable; absent on both sides: comparable -> refuted
    ({"vgg": _all(timm={"vgg": 2}, keras_hub={"vgg_a": 1}), "unet": _all()}, REFUTED,
     "vgg (2 vs 1), unet (0 vs 0)"),
    # the smaller side's registry failed: it might hold the rest
    ({"vgg": _all(timm={"vgg": 5}, broken=("keras_hub",))}, INCONCLUSIVE, "keras_hub broken"),
    # transformers names example checkpoints only: a lower bound, not "comparable"
    ({"bert": _all(transformers={"BertModel": 1}, keras_hub={"bert_a": 2})}, INCONCLUSIVE,
     "transformers lists example checkpoints only"),
])
def test_c11_verdicts(queries, verdict, in_summary):
    res = c11(Evidence([], None, queries))
    assert res.verdict == verdict, res.summary
    assert in_summary in res.summary
    assert any("sides: PyTorch for pytorch, lightning" in ln for ln in res.evidence)
    assert (res.missing != "") == ("broken" in in_summary)


def test_c11_without_a_zoo_search_is_not_measured():
    res = c11(Evidence([], None, None))
    assert res.verdict == NOT_MEASURED and "twinbench report" in res.missing


def test_c11_counts_a_checkpoint_once_and_names_versions():
    both = [Hit("transformers", "PyTorch", c, True, "", ["org/detr-a"])
            for c in ("DetrModel", "DetrForObjectDetection")]
    res = [ZooResult("transformers", "transformers", "installed", "5.24.0", both),
           *_all(keras_hub={})[2:]]
    sup = zoos.support(res)
    assert sup["pytorch"].pretrained == 1 and sup["pytorch"].architectures == 2
    assert "transformers 5.24.0 (PyTorch classes): 1" in sup["pytorch"].text()
    assert "timm not searched" in sup["pytorch"].failed
