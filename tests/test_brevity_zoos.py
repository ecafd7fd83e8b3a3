"""Code brevity counts on fixture code, and the offline model-zoo search with absent zoos."""

from __future__ import annotations

import importlib.util
import textwrap

import pytest

from conftest import require
from twinbench import brevity, zoos
from twinbench.brevity import CATEGORIES, Count, categorize, family_table, measure_source

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


def test_real_transformers_when_installed():
    require("transformers", "not installed" if importlib.util.find_spec("transformers") is None
            else None)
    found = [h for z in zoos.search("detr") for h in z.hits]
    assert any(h.name == "DetrForObjectDetection" and h.ecosystem == "PyTorch" for h in found)


def test_models_cli_reports_absent_zoos(cli):
    r = cli("models", "detr", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    for name in ("timm", "transformers", "keras_hub", "keras.applications"):
        assert name in r.stdout
    if importlib.util.find_spec("timm") is None:
        assert "not installed" in r.stdout


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


def test_timm_names_are_matched_normalised(monkeypatch):
    import fnmatch
    import sys
    import types

    names = ["resnet50", "resnet101", "vit_base_patch16_224"]
    tagged = ["resnet50.a1_in1k", "vit_base_patch16_224.augreg_in21k"]

    def list_models(filter: str = "", pretrained: bool = False) -> list[str]:
        pool = tagged if pretrained else names
        return [n for n in pool if not filter or fnmatch.fnmatch(n, filter)]

    monkeypatch.setitem(sys.modules, "timm", types.SimpleNamespace(list_models=list_models))
    hits = {h.name: h.pretrained for h in zoos._timm("ResNet-50")}
    assert hits == {"resnet50": True}
    assert {h.name: h.pretrained for h in zoos._timm("resnet")} == {
        "resnet50": True, "resnet101": False}
