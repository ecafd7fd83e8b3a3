"""text-classification: int32 token ids (N, seq_len) in, class logits (N, C) out; metric accuracy.

Data sets: ``synthetic`` (generated, learnable, no files), ``imdb-folder`` (``train/<class>/*.txt``
and ``test/<class>/*.txt``, e.g. the aclImdb archive unpacked) and ``csv`` (columns ``text`` and
``label``: one file split 80/20, or a folder with ``train.csv`` and ``test.csv``). Every mistake
in those files is a one-line :class:`UserError` naming the file and the fix.
"""

from __future__ import annotations

import csv
import difflib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from twinbench.errors import UserError
from twinbench.tasks.datasets import Dataset, Split
from twinbench.tasks.metrics import accuracy, class_per_item, macro_f1
from twinbench.tasks.text_data import SYNTH_CLASSES, build_vocab, encode, synthetic_texts

TEXT_DATASETS: dict[str, str] = {
    "synthetic": "seeded sentences, 4 classes by keyword counts among distractors; no files needed",
    "imdb-folder": "IMDB-style folder train|test/<class>/*.txt (e.g. aclImdb); needs --data-path",
    "csv": "CSV with columns text,label (one file, split 80/20, or train.csv + test.csv in a "
    "folder); needs --data-path",
}
TEXT_FILE_DATASETS = frozenset({"imdb-folder", "csv"})
DEFAULT_MAX_VOCAB = 20000
_TAG_SUBSET, _TAG_SPLIT = 0x7E5B, 0x7E59
_Texts = tuple[list[str], list[str]]  # (texts, raw labels)


def load(name: str, settings: Any, *, n_train: int | None = None,
         n_test: int | None = None) -> Dataset:
    """Texts -> (vocab from train) -> ids; ``settings`` gives seq_len, seed, data_path."""
    if name not in TEXT_DATASETS:
        near = difflib.get_close_matches(str(name), list(TEXT_DATASETS), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise UserError(f"unknown text data set {name!r}; {hint}choose one of: "
                        f"{', '.join(TEXT_DATASETS)}")
    seq_len, seed = int(settings.seq_len), int(settings.seed)
    max_vocab = int(getattr(settings, "max_vocab", None) or DEFAULT_MAX_VOCAB)
    path = getattr(settings, "data_path", None)
    if name == "synthetic":
        tr_x, tr_y = synthetic_texts(n_train or 1024, seq_len, seed, stream=1)
        te_x, te_y = synthetic_texts(n_test or 256, seq_len, seed, stream=2)
        return _build(name, (tr_x, tr_y), (te_x, te_y), SYNTH_CLASSES, seq_len, max_vocab)
    if not path:
        raise UserError(f"the {name} data set reads your files: pass --data-path PATH "
                        f"(or data_path in the study file)")
    root = Path(path).expanduser()
    train, test = read_imdb_folder(root) if name == "imdb-folder" else read_csv(root)
    train = _subset(train, n_train, seed, 0, f"{name} training set", "n_train")
    test = _subset(test, n_test, seed, 1, f"{name} test set", "n_test")
    classes = _classes(train[1], test[1], str(root))
    ys = [np.array([classes[v] for v in labels], dtype=np.int64) for labels in (train[1], test[1])]
    return _build(name, (train[0], ys[0]), (test[0], ys[1]), len(classes), seq_len, max_vocab)


def evaluate(outputs: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, float]:
    pred = np.argmax(outputs, axis=-1)
    return {"accuracy": accuracy(pred, y), "macro_f1": macro_f1(pred, y, num_classes)}


decisions = class_per_item  # the class per text


def _build(name: str, train: tuple[list[str], np.ndarray], test: tuple[list[str], np.ndarray],
           num_classes: int, seq_len: int, max_vocab: int) -> Dataset:
    vocab = build_vocab(train[0], max_vocab)  # TRAIN only: test words may be unknown
    splits = []
    for texts, y in (train, test):
        x = encode(texts, vocab, seq_len)
        y = np.asarray(y, dtype=np.int64)
        x.flags.writeable = False  # neither twin may alter data the other one will see
        y.flags.writeable = False
        splits.append(Split(x=x, y=y))
    return Dataset(name, splits[0], splits[1], num_classes, (seq_len,), vocab_size=len(vocab))


def _subset(part: _Texts, n: int | None, seed: int, stream: int, what: str, arg: str) -> _Texts:
    """A seeded subset in file order; train and test use separate streams."""
    texts, labels = part
    if n is None or n == len(texts):
        return part
    if n > len(texts):
        raise UserError(f"the {what} has only {len(texts)} texts, {arg}={n} asked for; "
                        f"use {arg} <= {len(texts)}")
    idx = np.sort(np.random.default_rng([_TAG_SUBSET, seed, stream]).permutation(len(texts))[:n])
    return [texts[i] for i in idx], [labels[i] for i in idx]


def _classes(train: list[str], test: list[str], where: str) -> dict[str, int]:
    """Label -> id, sorted numerically when every label is an integer (AG-News' 1..4 -> 0..3)."""
    names = sorted(set(train), key=lambda s: (int(s), s) if s.lstrip("-").isdigit() else (0, s))
    if len(names) < 2:
        raise UserError(f"{where}: the training texts hold {len(names)} label(s); "
                        "a classifier needs at least 2")
    unseen = sorted(set(test) - set(names))
    if unseen:
        raise UserError(f"{where}: test labels {unseen[:5]} never occur in training; "
                        "every test label must be a training label")
    return {n: i for i, n in enumerate(names)}


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "re-encode it as UTF-8") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def read_imdb_folder(root: Path) -> tuple[_Texts, _Texts]:
    """``root`` (or ``root/aclImdb``) with train/ and test/, one sub-folder of .txt per class.

    Class folders are those present in both splits (``unsup``, IMDB's unlabelled reviews,
    exists only in train and is skipped); files are read in sorted order.
    """
    if not (root / "train").is_dir() and (root / "aclImdb" / "train").is_dir():
        root = root / "aclImdb"
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise UserError(f"{root} has no {split}/ folder; an IMDB-style folder needs "
                            "train/<class>/*.txt and test/<class>/*.txt")
    both = {p.name for p in (root / "train").iterdir() if p.is_dir()} & {
        p.name for p in (root / "test").iterdir() if p.is_dir()}
    classes = sorted(both - {"unsup"})
    if len(classes) < 2:
        raise UserError(f"{root}: found class folders {classes} in both train/ and test/; "
                        "need at least 2 (e.g. neg/ and pos/)")
    out = []
    for split in ("train", "test"):
        texts: list[str] = []
        labels: list[str] = []
        for cls in classes:
            files = sorted((root / split / cls).glob("*.txt"))
            if not files:
                raise UserError(f"{root / split / cls} holds no .txt files")
            texts += [_read_text(f) for f in files]
            labels += [cls] * len(files)
        out.append((texts, labels))
    return out[0], out[1]


def _read_csv_file(path: Path) -> _Texts:
    """Rows of a CSV with a header naming ``text`` and ``label`` (any order, any case)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long reviews exceed the 128 KiB default
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = csv.reader(f)
            header = [h.strip().lower() for h in next(rows, [])]
            if "text" not in header or "label" not in header:
                raise UserError(f"{path}: the header {header[:6]} must name the columns "
                                "'text' and 'label'")
            ti, li = header.index("text"), header.index("label")
            texts, labels = [], []
            for row in rows:
                if not row:
                    continue
                if len(row) <= max(ti, li) or not row[li].strip():
                    raise UserError(f"{path} line {rows.line_num}: expected a text and a label, "
                                    f"got {len(row)} field(s)")
                texts.append(row[ti])
                labels.append(row[li].strip())
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason}); re-encode it as UTF-8") from None
    except csv.Error as exc:
        raise UserError(f"{path}: not a valid CSV file ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if not texts:
        raise UserError(f"{path} holds no rows under its header; add text,label rows")
    return texts, labels


def read_csv(root: Path) -> tuple[_Texts, _Texts]:
    """A folder with train.csv + test.csv, or one file split 80/20 per class (fixed, not seeded:
    every run and seed is scored on the same test rows)."""
    if root.is_dir():
        missing = [n for n in ("train.csv", "test.csv") if not (root / n).is_file()]
        if missing:
            raise UserError(f"{root} lacks {', '.join(missing)}; give a folder with train.csv "
                            "and test.csv, or one .csv file to split 80/20")
        return _read_csv_file(root / "train.csv"), _read_csv_file(root / "test.csv")
    if not root.is_file():
        raise UserError(f"{root}: no such CSV file or folder")
    texts, labels = _read_csv_file(root)
    test = np.zeros(len(texts), dtype=bool)
    rng = np.random.default_rng([_TAG_SPLIT])
    for cls in sorted(set(labels)):
        members = rng.permutation([i for i, v in enumerate(labels) if v == cls])
        test[members[: round(0.2 * len(members))]] = True
    pick = [[i for i in range(len(texts)) if test[i] == t] for t in (False, True)]
    if not pick[1]:
        raise UserError(f"{root} has too few rows to hold out a test split; add rows or give "
                        "train.csv and test.csv in a folder")
    return tuple(([texts[i] for i in p], [labels[i] for i in p]) for p in pick)  # type: ignore
