"""Framework-neutral image data sets: numpy in, numpy out.

Both twins of a model must see exactly the same pixels in exactly the same order, otherwise a
difference in accuracy could come from the data instead of the framework. So everything here
is plain numpy, seeded, and imports no deep-learning framework.
"""

from __future__ import annotations

import codecs
import difflib
import importlib.util
import io
import os
import pickle
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.errors import UserError

IMAGE_DATASETS: dict[str, str] = {
    "synthetic": "seeded class patterns plus noise, 10 classes; learnable, no files needed",
    "digits": "scikit-learn's 1797 real handwritten 8x8 digits, 10 classes; ships with sklearn",
    "cifar10": "CIFAR-10, 60000 32x32 colour photos, 10 classes; needs the archive on disk",
}

# Data sets read from user files; only these take a --data-path.
FILE_DATASETS = frozenset({"cifar10"})

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_ENV = "TWINBENCH_CIFAR10"

# Domain tags keep the random streams for generation, subsetting and batch order independent.
_TAG_DATA, _TAG_SUBSET, _TAG_ORDER = 0x5D47A, 0x5B5E7, 0x0BDE2
# Noise std per sqrt(input size): keeps the synthetic task about equally hard at every input
# size (nearest class mean ~0.86-0.98), and hard enough that a small CNN needs a few epochs.
_SYNTH_NOISE = 0.09


@dataclass(frozen=True)
class Split:
    """Images as float32 NHWC, normalised per channel, with int64 class ids."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Dataset:
    """A train/test pair plus what a model needs to know to be built for it."""

    name: str
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]  # images (H, W, C); token ids (seq_len,)
    vocab_size: int | None = None  # text: embedding rows (ids 0 pad, 1 unknown); None otherwise


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise UserError(f"{what} must be a positive integer, got {value!r}; pass a value > 0")
    return int(value)


def _rng(*words: int) -> np.random.Generator:
    return np.random.default_rng([int(w) for w in words])


def epoch_order(n: int, *, epoch: int, seed: int) -> np.ndarray:
    """The sample order of one epoch; a pure function of (n, epoch, seed) so that every
    framework, and every rerun, walks the data in the same order."""
    if n < 0 or epoch < 0 or seed < 0:
        raise ValueError(f"n, epoch and seed must be >= 0, got n={n}, epoch={epoch}, seed={seed}")
    return _rng(_TAG_ORDER, seed, epoch).permutation(n)


def batches(
    split: Split, batch_size: int, *, epoch: int, seed: int, drop_last: bool = True
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (x, y) batches in `epoch_order`; each batch is a fresh, writable copy.

    drop_last defaults to True so every step has the same shape: a ragged last batch would
    trigger a recompile in graph-compiling frameworks and skew the timing comparison.
    """
    batch_size = _positive_int(batch_size, "batch_size")
    n = len(split.y)
    if drop_last and batch_size > n:
        raise UserError(
            f"batch_size {batch_size} is larger than the {n} samples, so no full batch exists; "
            f"use a batch size <= {n} or more samples"
        )
    order = epoch_order(n, epoch=epoch, seed=seed)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield split.x[idx], split.y[idx]


def load_image_dataset(
    name: str,
    *,
    image_size: int = 32,
    channels: int = 3,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    path: str | None = None,
) -> Dataset:
    """Load `name` resized to image_size x image_size x channels, normalised with train stats."""
    if name not in IMAGE_DATASETS:
        near = difflib.get_close_matches(str(name), list(IMAGE_DATASETS), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise UserError(
            f"unknown image data set {name!r}; {hint}choose one of: {', '.join(IMAGE_DATASETS)}"
        )
    size = _positive_int(image_size, "image_size")
    chans = _positive_int(channels, "channels")
    n_tr = None if n_train is None else _positive_int(n_train, "n_train")
    n_te = None if n_test is None else _positive_int(n_test, "n_test")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be an integer >= 0, got {seed!r}")
    if path is not None and name != "cifar10":
        raise UserError(f"a data path is only used by cifar10, not {name!r}; drop --data-path")

    if name == "synthetic":
        parts = _synthetic(size, chans, n_tr or 1024, n_te or 256, seed)
        n_tr = n_te = None  # generated at the requested size already
    elif name == "digits":
        parts = _digits()
    else:
        parts = _cifar10(path)
    x_tr, y_tr, x_te, y_te = parts
    rng_tr, rng_te = _rng(_TAG_SUBSET, seed, 0), _rng(_TAG_SUBSET, seed, 1)
    x_tr, y_tr = _subset(x_tr, y_tr, n_tr, rng_tr, f"{name} training set", "n_train")
    x_te, y_te = _subset(x_te, y_te, n_te, rng_te, f"{name} test set", "n_test")
    return _build(name, x_tr, y_tr, x_te, y_te, 10, size, chans)


_Parts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _subset(
    x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator, what: str, arg: str
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random subset; train and test use separate streams, so changing n_train never
    changes which test images are scored."""
    if n is None or n == len(y):
        return x, y
    if n > len(y):
        raise UserError(
            f"the {what} has only {len(y)} images, {arg}={n} asked for; use {arg} <= {len(y)}"
        )
    idx = np.sort(rng.permutation(len(y))[:n])
    return x[idx], y[idx]


def _build(
    name: str,
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_te: np.ndarray,
    y_te: np.ndarray,
    num_classes: int,
    size: int,
    channels: int,
) -> Dataset:
    """Shared tail of every loader: check, adapt to the model input, normalise, freeze."""
    splits = []
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        x = np.asarray(x)
        if x.dtype.kind in "fc" and not np.isfinite(x).all():
            raise UserError(f"the {name} data contains NaN or inf values; fix or re-create it")
        x = x.astype(np.float32, order="C")  # a private copy: normalised in place below
        y = np.asarray(y).astype(np.int64)
        if y.shape != (len(x),) or (y.size and (y.min() < 0 or y.max() >= num_classes)):
            raise UserError(f"the {name} labels are not {len(x)} ids in [0, {num_classes})")
        splits.append((_resize(_to_channels(x, channels, name), size), y))
    (x_tr, y_tr), (x_te, y_te) = splits
    mean, std = _channel_stats(x_tr)
    out = []
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        x = np.ascontiguousarray(x)
        x -= mean
        x *= 1.0 / std
        # Read-only: neither twin may alter data the other one will see.
        x.flags.writeable = False
        y.flags.writeable = False
        out.append(Split(x=x, y=y))
    return Dataset(name, out[0], out[1], num_classes, (size, size, channels))


def _channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean/std in float64, in chunks so full CIFAR-10 needs no float64 copy."""
    total = np.zeros(x.shape[-1]), np.zeros(x.shape[-1])
    for start in range(0, len(x), 1024):
        chunk = x[start : start + 1024].astype(np.float64)
        total[0][:] += chunk.sum(axis=(0, 1, 2))
        total[1][:] += np.square(chunk).sum(axis=(0, 1, 2))
    count = max(1, x.shape[0] * x.shape[1] * x.shape[2])
    mean = total[0] / count
    std = np.sqrt(np.maximum(total[1] / count - mean**2, 0.0))
    std[std < 1e-8] = 1.0  # a constant channel carries no information; do not divide by 0
    return mean.astype(np.float32), std.astype(np.float32)


def _to_channels(x: np.ndarray, channels: int, name: str) -> np.ndarray:
    have = x.shape[-1]
    if have == channels:
        return x
    if have == 1:
        return np.repeat(x, channels, axis=-1)
    if have == 3 and channels == 1:
        return x @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)  # luminance
    raise UserError(f"{name} has {have} channels and cannot become {channels}; use 1 or {have}")


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) bilinear weights with half-pixel centres, as in TF/PIL resizing."""
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (src - lo).astype(np.float32)
    m = np.zeros((n_out, n_in), dtype=np.float32)
    np.add.at(m, (np.arange(n_out), lo), 1 - w)
    np.add.at(m, (np.arange(n_out), hi), w)
    return m


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of NHWC images; separable, so two small matrix products."""
    if x.shape[1:3] == (size, size):
        return x
    rows, cols = _resize_matrix(x.shape[1], size), _resize_matrix(x.shape[2], size)
    x = np.einsum("oh,nhwc->nowc", rows, x)
    return np.einsum("pw,nowc->nopc", cols, x).astype(np.float32)


def _synthetic(size: int, channels: int, n_train: int, n_test: int, seed: int) -> _Parts:
    """Each class is a fixed random low-frequency pattern; a sample is its pattern, shifted by
    a few pixels, scaled in contrast and buried in noise: easy for a small CNN, not trivial."""
    patterns = _resize(_rng(_TAG_DATA, seed, 0).normal(size=(10, 4, 4, channels)), size)
    max_shift = max(1, size // 8)
    sigma = _SYNTH_NOISE * float(np.sqrt(size * size * channels))

    def draw(n: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
        rng = _rng(_TAG_DATA, seed, stream)
        y = np.arange(n) % 10
        rng.shuffle(y)
        x = np.empty((n, size, size, channels), dtype=np.float32)
        shifts = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
        contrast = rng.uniform(0.8, 1.2, size=n)
        for i in range(n):
            x[i] = contrast[i] * np.roll(patterns[y[i]], tuple(shifts[i]), axis=(0, 1))
        x += rng.normal(scale=sigma, size=x.shape).astype(np.float32)
        return x, y

    return (*draw(n_train, 1), *draw(n_test, 2))


def _digits_csv() -> tuple[np.ndarray, np.ndarray]:
    """The file ``sklearn.datasets.load_digits`` reads, read the same way without importing
    scikit-learn (a second of a worker's start-up; a test checks both agree)."""
    spec = importlib.util.find_spec("sklearn")
    path = (Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
            if spec and spec.submodule_search_locations else None)
    if path is None or not path.exists():
        raise UserError("the digits data set comes with scikit-learn; pip install scikit-learn")
    data = np.loadtxt(path, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def _digits() -> _Parts:
    """scikit-learn's digits with a FIXED stratified 80/20 split (independent of `seed`), so
    every run and every seed is scored on the same 360 test images."""
    images, target = _digits_csv()
    x = images.astype(np.float32)[..., None]  # (1797, 8, 8, 1), values 0..16
    y = target.astype(np.int64)
    rng = _rng(_TAG_DATA, 0)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        test[members[: round(0.2 * len(members))]] = True
    return x[~test], y[~test], x[test], y[test]


# ---------------------------------------------------------------- CIFAR-10 (pickled batches)

try:  # numpy >= 2 moved the module; the real archive names the old one
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Python 3 writes bytes in protocol-2 pickles as _codecs.encode(text, "latin1").
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}")
    return codecs.encode(obj, "latin1", errors)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only the few globals a CIFAR-10 batch needs, so a tampered file cannot run
    code: plain pickle.load would import and call anything the file names."""

    def __init__(self, file: io.BufferedIOBase, label: str) -> None:
        super().__init__(file, encoding="bytes")  # the archive was written by Python 2
        self._label = label

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UserError(
                f"{self._label} asks to load {module}.{name}, which no CIFAR-10 archive needs; "
                "refusing it as unsafe: use the original cifar-10-python.tar.gz"
            ) from None


def _key(batch: dict[Any, Any], key: str) -> Any:
    # Python 2 str keys come back as bytes (b"data"); a Python 3 rewrite may use str keys.
    if key.encode() in batch:
        return batch[key.encode()]
    if key in batch:
        return batch[key]
    raise KeyError(f"no {key!r} entry")


def _read_batch(raw: bytes, label: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (N, 32, 32, 3) uint8 images and (N,) labels."""
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), label).load()
        if not isinstance(obj, dict):
            raise ValueError(f"holds a {type(obj).__name__}, not a dict")
        data, labels = np.asarray(_key(obj, "data")), np.asarray(_key(obj, "labels"))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(f"data is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
        if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
            raise ValueError("labels do not match the images")
    except UserError:
        raise
    except Exception as exc:  # any failure here means a corrupt file
        raise UserError(
            f"{label} is not a valid CIFAR-10 batch ({type(exc).__name__}: "
            f"{str(exc)[:120]}); re-download cifar-10-python.tar.gz"
        ) from None
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int64)


_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _read_tar(archive: Path) -> dict[str, bytes]:
    """Read the batches straight from the .tar.gz, without extracting anything to disk."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if base in _BATCHES and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[base] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(
            f"{archive} is not a readable CIFAR-10 archive ({exc}); "
            f"re-download cifar-10-python.tar.gz from {CIFAR10_URL}"
        ) from None
    return found


def _cifar10(path: str | None) -> _Parts:
    source = path if path is not None else os.environ.get(CIFAR10_ENV)
    how = (
        f"download cifar-10-python.tar.gz from {CIFAR10_URL} on a machine with internet "
        f"and pass --data-path PATH or set {CIFAR10_ENV}=PATH"
    )
    if not source:
        raise UserError(
            f"CIFAR-10 needs its archive: no --data-path given and {CIFAR10_ENV} is unset; {how}"
        )
    root = Path(source).expanduser()
    candidates = [root, root / "cifar-10-batches-py", root / "cifar-10-python.tar.gz"]
    files: dict[str, bytes] | None = None
    where = str(root)
    for cand in candidates:
        if cand.is_dir() and all((cand / b).is_file() for b in _BATCHES):
            files, where = {b: (cand / b).read_bytes() for b in _BATCHES}, str(cand)
            break
        if cand.is_file():
            files, where = _read_tar(cand), str(cand)
            break
    if files is None:
        raise UserError(
            f"CIFAR-10 not found at {root} (looked for cifar-10-batches-py/ with "
            f"data_batch_1..5 and test_batch, or cifar-10-python.tar.gz); {how}"
        )
    missing = [b for b in _BATCHES if b not in files]
    if missing:
        raise UserError(
            f"{where} lacks {', '.join(missing)}; it is not a complete CIFAR-10 archive: {how}"
        )
    parts = [_read_batch(files[b], f"{where}:{b}") for b in _BATCHES]
    x_tr = np.concatenate([p[0] for p in parts[:5]])
    y_tr = np.concatenate([p[1] for p in parts[:5]])
    return x_tr, y_tr, parts[5][0], parts[5][1]
