"""Data sets: determinism, shapes, normalisation, realness, and a safe CIFAR-10 reader."""

from __future__ import annotations

import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

import twinbench.tasks.datasets as ds_mod
from twinbench.errors import UserError
from twinbench.tasks.datasets import (
    IMAGE_DATASETS,
    Dataset,
    Split,
    batches,
    epoch_order,
    load_image_dataset,
)

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def nearest_class_mean_accuracy(ds: Dataset) -> float:
    """A no-training baseline: if this beats chance by far, the data carries class signal."""
    xtr = ds.train.x.reshape(len(ds.train.x), -1).astype(np.float64)
    xte = ds.test.x.reshape(len(ds.test.x), -1).astype(np.float64)
    means = np.stack([xtr[ds.train.y == c].mean(axis=0) for c in range(ds.num_classes)])
    dist = ((xte[:, None, :] - means[None]) ** 2).sum(axis=-1)
    return float(np.mean(dist.argmin(axis=1) == ds.test.y))


def assert_normalised(x: np.ndarray) -> None:
    stats = x.astype(np.float64)
    np.testing.assert_allclose(stats.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(stats.std(axis=(0, 1, 2)), 1.0, atol=1e-3)


# ------------------------------------------------------------------ order and batches


def test_epoch_order_is_a_deterministic_permutation() -> None:
    a = epoch_order(100, epoch=0, seed=7)
    np.testing.assert_array_equal(a, epoch_order(100, epoch=0, seed=7))
    np.testing.assert_array_equal(np.sort(a), np.arange(100))
    assert not np.array_equal(a, epoch_order(100, epoch=1, seed=7))
    assert not np.array_equal(a, epoch_order(100, epoch=0, seed=8))


def test_batches_follow_epoch_order_and_are_reproducible() -> None:
    split = Split(
        x=np.arange(10 * 2 * 2 * 1, dtype=np.float32).reshape(10, 2, 2, 1),
        y=np.arange(10, dtype=np.int64),
    )
    first = list(batches(split, 3, epoch=2, seed=1))
    again = list(batches(split, 3, epoch=2, seed=1))
    assert len(first) == 3  # 10 // 3, the ragged last batch dropped
    for (xa, ya), (xb, yb) in zip(first, again, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    order = epoch_order(10, epoch=2, seed=1)
    np.testing.assert_array_equal(np.concatenate([y for _, y in first]), order[:9])
    np.testing.assert_array_equal(first[0][0], split.x[order[:3]])
    other_epoch = np.concatenate([y for _, y in batches(split, 3, epoch=3, seed=1)])
    assert not np.array_equal(other_epoch, order[:9])

    full = list(batches(split, 3, epoch=2, seed=1, drop_last=False))
    assert [len(y) for _, y in full] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.sort(np.concatenate([y for _, y in full])), np.arange(10))

    with pytest.raises(UserError, match="batch"):
        list(batches(split, 11, epoch=0, seed=0))
    with pytest.raises(UserError):
        list(batches(split, 0, epoch=0, seed=0))


# ------------------------------------------------------------------ synthetic and digits


def test_dataset_list_names_the_three_sets() -> None:
    assert set(IMAGE_DATASETS) == {"synthetic", "digits", "cifar10"}
    assert all(isinstance(v, str) and v and "\n" not in v for v in IMAGE_DATASETS.values())


def test_synthetic_shapes_normalisation_and_determinism() -> None:
    ds = load_image_dataset("synthetic", seed=3)
    assert ds.name == "synthetic" and ds.num_classes == 10 and ds.input_shape == (32, 32, 3)
    assert ds.train.x.shape == (1024, 32, 32, 3) and ds.test.x.shape == (256, 32, 32, 3)
    assert ds.train.x.dtype == np.float32 and ds.train.y.dtype == np.int64
    assert ds.test.y.dtype == np.int64 and set(np.unique(ds.train.y)) == set(range(10))
    assert_normalised(ds.train.x)
    assert not ds.train.x.flags.writeable  # no twin may alter what the other one sees

    again = load_image_dataset("synthetic", seed=3)
    np.testing.assert_array_equal(ds.train.x, again.train.x)
    np.testing.assert_array_equal(ds.test.y, again.test.y)
    assert not np.array_equal(ds.train.x, load_image_dataset("synthetic", seed=4).train.x)


def test_synthetic_test_set_does_not_depend_on_n_train() -> None:
    small = load_image_dataset("synthetic", n_train=64, n_test=50, image_size=8, channels=1)
    big = load_image_dataset("synthetic", n_train=128, n_test=50, image_size=8, channels=1)
    assert small.train.x.shape == (64, 8, 8, 1) and small.test.x.shape == (50, 8, 8, 1)
    np.testing.assert_array_equal(small.test.y, big.test.y)


@pytest.mark.parametrize(("size", "channels"), [(32, 3), (16, 1)])
def test_synthetic_is_learnable(size: int, channels: int) -> None:
    ds = load_image_dataset("synthetic", image_size=size, channels=channels)
    assert nearest_class_mean_accuracy(ds) > 0.8


def test_digits_is_the_real_sklearn_data() -> None:
    from sklearn.datasets import load_digits

    ds = load_image_dataset("digits", image_size=8, channels=1)
    assert len(ds.train.y) + len(ds.test.y) == 1797 and ds.num_classes == 10
    assert set(np.unique(ds.test.y)) == set(range(10))
    assert 340 <= len(ds.test.y) <= 380  # ~20 %, stratified
    assert_normalised(ds.train.x)
    # Undo the affine normalisation (raw pixels span 0..16): the images are exactly sklearn's,
    # each in exactly one split, and the test split was normalised with the TRAIN stats.
    lo, hi = float(ds.train.x.min()), float(ds.train.x.max())
    scale = 16.0 / (hi - lo)
    rows = [np.rint((s.x.reshape(len(s.x), 64) - lo) * scale) for s in (ds.train, ds.test)]
    ours = np.concatenate(rows)
    digits = load_digits()
    ours_y = np.concatenate([ds.train.y, ds.test.y])
    key = np.lexsort(np.column_stack([ours, ours_y]).T)
    ref_key = np.lexsort(np.column_stack([digits.data, digits.target]).T)
    np.testing.assert_array_equal(ours[key], digits.data[ref_key])
    np.testing.assert_array_equal(ours_y[key], digits.target[ref_key])


def test_digits_adapts_to_the_model_input_and_keeps_a_fixed_split() -> None:
    ds = load_image_dataset("digits")  # defaults: 32x32x3
    assert ds.input_shape == (32, 32, 3) and ds.train.x.shape[1:] == (32, 32, 3)
    assert ds.train.x.dtype == np.float32 and ds.train.y.dtype == np.int64
    np.testing.assert_array_equal(ds.train.x[..., 0], ds.train.x[..., 2])  # grey, repeated
    assert_normalised(ds.train.x)
    assert nearest_class_mean_accuracy(ds) > 0.8
    other_seed = load_image_dataset("digits", seed=5)
    np.testing.assert_array_equal(ds.test.x, other_seed.test.x)  # same test images for any seed
    sub = load_image_dataset("digits", n_train=100, n_test=50, image_size=16, channels=1)
    assert sub.train.x.shape == (100, 16, 16, 1) and sub.test.x.shape == (50, 16, 16, 1)
    with pytest.raises(UserError, match="n_train"):
        load_image_dataset("digits", n_train=5000)


# ------------------------------------------------------------------ validation


def test_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(UserError, match="did you mean 'digits'") as info:
        load_image_dataset("digit")
    assert "synthetic" in str(info.value) and "cifar10" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_size": 0},
        {"image_size": 2.5},
        {"channels": 0},
        {"n_train": 0},
        {"n_test": -3},
        {"n_train": True},
        {"seed": -1},
        {"path": "/somewhere"},  # only cifar10 reads files
    ],
)
def test_bad_arguments_are_user_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(UserError):
        load_image_dataset("synthetic", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_is_a_user_error(monkeypatch: pytest.MonkeyPatch, bad: float) -> None:
    x = np.ones((20, 8, 8, 1), dtype=np.float32)
    x[3, 2, 2, 0] = bad
    y = np.arange(20) % 10
    clean = np.ones((5, 8, 8, 1), dtype=np.float32)
    monkeypatch.setattr(ds_mod, "_digits", lambda: (x, y, clean, y[:5]))
    with pytest.raises(UserError, match="NaN or inf"):
        load_image_dataset("digits", image_size=8, channels=1)


# ------------------------------------------------------------------ CIFAR-10


class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes str and bytes as Python 2 `str` (BINSTRING), as in the real archive."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: str | bytes) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def _dump(obj: object, py2: bool = False) -> bytes:
    if not py2:
        return pickle.dumps(obj, protocol=2)
    import io

    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # the original archive was written by numpy 1.x, which names numpy.core
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def _write_cifar(root: Path, py2: bool = False, per_batch: int = 10) -> dict[str, np.ndarray]:
    """A tiny archive in the real layout: 5 training batches, 1 test batch, batches.meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    out: dict[str, list[np.ndarray]] = {"xtr": [], "ytr": [], "xte": [], "yte": []}
    for b in BATCHES:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        batch = {
            b"batch_label": b"batch " + b.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(per_batch)],
        }
        (folder / b).write_bytes(_dump(batch, py2))
        part = "te" if b == "test_batch" else "tr"
        out["x" + part].append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        out["y" + part].append(np.array(labels))
    meta = {
        b"label_names": [n.encode() for n in "abcdefghij"],
        b"num_cases_per_batch": per_batch,
        b"num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(_dump(meta, py2))
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return {k: np.concatenate(v) for k, v in out.items()}


@pytest.fixture
def cifar(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    return tmp_path, _write_cifar(tmp_path)


def test_cifar_folder_parent_and_archive_agree(cifar: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, raw = cifar
    ds = load_image_dataset("cifar10", path=str(root / "cifar-10-batches-py"))
    assert ds.train.x.shape == (50, 32, 32, 3) and ds.test.x.shape == (10, 32, 32, 3)
    assert ds.train.x.dtype == np.float32 and ds.train.y.dtype == np.int64
    assert ds.input_shape == (32, 32, 3) and ds.num_classes == 10
    np.testing.assert_array_equal(ds.train.y, raw["ytr"])
    np.testing.assert_array_equal(ds.test.y, raw["yte"])
    # CHW rows became HWC images, normalised with the TRAIN split's per-channel stats
    xtr, xte = raw["xtr"].astype(np.float64), raw["xte"].astype(np.float64)
    mean, std = xtr.mean(axis=(0, 1, 2)), xtr.std(axis=(0, 1, 2))
    np.testing.assert_allclose(ds.train.x, (xtr - mean) / std, atol=1e-4)
    np.testing.assert_allclose(ds.test.x, (xte - mean) / std, atol=1e-4)
    assert_normalised(ds.train.x)
    for other in (root, root / "cifar-10-python.tar.gz"):
        again = load_image_dataset("cifar10", path=str(other))
        np.testing.assert_array_equal(again.train.x, ds.train.x)
        np.testing.assert_array_equal(again.test.y, ds.test.y)


def test_cifar_from_env_subset_and_resize(
    cifar: tuple[Path, dict[str, np.ndarray]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, raw = cifar
    monkeypatch.setenv("TWINBENCH_CIFAR10", str(root / "cifar-10-python.tar.gz"))
    ds = load_image_dataset("cifar10", n_train=20, n_test=5, image_size=16, channels=1, seed=2)
    assert ds.train.x.shape == (20, 16, 16, 1) and ds.test.x.shape == (5, 16, 16, 1)
    assert ds.input_shape == (16, 16, 1)
    assert set(ds.test.y) <= set(raw["yte"])
    with pytest.raises(UserError, match="n_test"):
        load_image_dataset("cifar10", n_test=11)


def test_cifar_reads_python2_pickles_like_the_original(tmp_path: Path) -> None:
    raw = _write_cifar(tmp_path, py2=True)
    assert (
        b"cnumpy.core.multiarray\n_reconstruct"
        in (tmp_path / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    )
    ds = load_image_dataset("cifar10", path=str(tmp_path / "cifar-10-python.tar.gz"))
    np.testing.assert_array_equal(ds.train.y, raw["ytr"])
    xtr = raw["xtr"].astype(np.float64)
    expected = (xtr - xtr.mean(axis=(0, 1, 2))) / xtr.std(axis=(0, 1, 2))
    np.testing.assert_allclose(ds.train.x, expected, atol=1e-4)


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


@pytest.mark.parametrize("as_tar", [False, True])
def test_malicious_pickle_is_rejected_and_never_run(tmp_path: Path, as_tar: bool) -> None:
    _write_cifar(tmp_path)
    sentinel = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    # hidden inside an otherwise plausible batch, not only at the top level
    evil = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [_Evil(f"touch {sentinel}")]}
    (folder / "data_batch_2").write_bytes(pickle.dumps(evil, protocol=2))
    target = folder
    if as_tar:
        target = tmp_path / "evil.tar.gz"
        with tarfile.open(target, "w:gz") as tar:
            tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(UserError, match="refusing") as info:
        load_image_dataset("cifar10", path=str(target))
    assert "system" in str(info.value) and "data_batch_2" in str(info.value)
    assert not sentinel.exists()


def test_other_globals_are_rejected_too(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    # protocol 2: GLOBAL builtins.eval, the text "1+1", TUPLE1, REDUCE -> plain pickle gives 2
    payload = b"\x80\x02cbuiltins\neval\nX\x03\x00\x00\x001+1\x85R."
    assert pickle.loads(payload) == 2  # the payload really executes
    (folder / "test_batch").write_bytes(payload)
    with pytest.raises(UserError, match=r"builtins\.eval"):
        load_image_dataset("cifar10", path=str(folder))


def test_corrupt_archives_name_the_file(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    good = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match="data_batch_3"):
        load_image_dataset("cifar10", path=str(folder))
    (folder / "data_batch_3").write_bytes(_dump({b"data": np.zeros((2, 5)), b"labels": [0, 1]}))
    with pytest.raises(UserError, match=r"data_batch_3.*uint8"):
        load_image_dataset("cifar10", path=str(folder))
    (folder / "data_batch_3").write_bytes(_dump([1, 2, 3]))
    with pytest.raises(UserError, match="data_batch_3"):
        load_image_dataset("cifar10", path=str(folder))

    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(os.urandom(1000))
    with pytest.raises(UserError, match=r"bogus\.tar\.gz"):
        load_image_dataset("cifar10", path=str(bogus))

    partial = tmp_path / "partial.tar.gz"
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(folder / "data_batch_1", arcname="cifar-10-batches-py/data_batch_1")
    with pytest.raises(UserError, match="test_batch"):
        load_image_dataset("cifar10", path=str(partial))


def test_missing_cifar_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWINBENCH_CIFAR10", raising=False)
    for kwargs in ({"path": str(tmp_path / "nowhere")}, {}):
        with pytest.raises(UserError) as info:
            load_image_dataset("cifar10", **kwargs)  # type: ignore[arg-type]
        msg = str(info.value)
        assert "\n" not in msg
        for needle in (
            "cifar-10-python.tar.gz",
            "cs.toronto.edu",
            "--data-path",
            "TWINBENCH_CIFAR10",
        ):
            assert needle in msg
        if kwargs:
            assert str(tmp_path / "nowhere") in msg  # says where it looked
