"""Text data: one deterministic tokenizer, vocabulary from train only, padding/truncation, the
synthetic corpus, and the file loaders (on small files each test writes) with one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from twinbench.errors import UserError
from twinbench.study import Study
from twinbench.tasks import TASKS
from twinbench.tasks.text_classification import evaluate, load
from twinbench.tasks.text_data import PAD, UNK, build_vocab, encode, tokenize


def _settings(**kw: object) -> Study:
    return Study.model_validate({"seq_len": 16, **kw})


def test_tokenize_is_lowercase_regex_split_without_html() -> None:
    text = "A <br />GREAT film, isn't it?  Great!<i>x</i>"
    assert tokenize(text) == ["a", "great", "film", "isn't", "it", "great", "x"]
    assert tokenize(text) == tokenize(text) and tokenize("") == []


def test_vocab_by_frequency_ties_alphabetical_and_capped() -> None:
    vocab = build_vocab(["b a c a", "c a b d"], max_size=5)  # a:3, b:2, c:2, d:1
    assert vocab.words == ("a", "b", "c") and len(vocab) == 5
    assert [vocab.id(w) for w in ("a", "b", "c", "d", "zzz")] == [2, 3, 4, UNK, UNK]
    with pytest.raises(UserError, match="max_vocab >= 2"):
        build_vocab(["a"], max_size=1)


def test_encode_pads_right_truncates_tail_and_never_leaves_a_row_empty() -> None:
    vocab = build_vocab(["one two three four five"], max_size=10)
    x = encode(["one two", "one two three four five six", "", "!!"], vocab, seq_len=4)
    assert x.dtype == np.int32 and x.shape == (4, 4)
    ids = [vocab.id(w) for w in ("one", "two", "three", "four")]
    assert x[0].tolist() == [ids[0], ids[1], PAD, PAD]
    assert x[1].tolist() == ids  # the first seq_len tokens are kept
    assert x[2].tolist() == [UNK, PAD, PAD, PAD] and x[3].tolist() == [UNK, PAD, PAD, PAD]


def test_synthetic_is_deterministic_padded_and_truncated() -> None:
    a = load("synthetic", _settings(seq_len=32), n_train=200, n_test=80)
    b = load("synthetic", _settings(seq_len=32), n_train=200, n_test=80)
    c = load("synthetic", _settings(seq_len=32, seed=1), n_train=200, n_test=80)
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.test.y, b.test.y)
    assert not np.array_equal(a.train.x, c.train.x)
    assert a.train.x.shape == (200, 32) and a.train.x.dtype == np.int32
    assert a.train.y.dtype == np.int64 and a.input_shape == (32,) and a.num_classes == 4
    assert np.bincount(a.train.y).tolist() == [50] * 4
    lengths = (a.train.x != PAD).sum(axis=1)
    assert lengths.min() >= 1 and lengths.min() < 32 and (lengths == 32).any()
    for x in (a.train.x, a.test.x):  # padding only at the end of a row
        assert not ((x[:, 1:] != PAD) & (x[:, :-1] == PAD)).any()
    assert a.vocab_size is not None and a.train.x.max() < a.vocab_size
    assert (a.train.x == UNK).sum() == 0  # vocab built from train covers train
    assert not a.train.x.flags.writeable
    with pytest.raises(UserError, match="seq_len >= 16"):
        load("synthetic", _settings(seq_len=8))


def _bow(x: np.ndarray, vocab: int) -> np.ndarray:
    counts = np.zeros((len(x), vocab))
    np.add.at(counts, (np.repeat(np.arange(len(x)), x.shape[1]), x.ravel()), 1)
    counts[:, PAD] = 0
    return counts


def test_synthetic_is_learnable_by_a_simple_baseline() -> None:
    from sklearn.linear_model import LogisticRegression

    ds = load("synthetic", _settings(seq_len=64), n_train=512, n_test=256)
    assert ds.vocab_size is not None
    clf = LogisticRegression(max_iter=2000).fit(_bow(ds.train.x, ds.vocab_size), ds.train.y)
    acc = clf.score(_bow(ds.test.x, ds.vocab_size), ds.test.y)
    assert acc > 0.6, acc  # chance is 0.25


def _write_imdb(root: Path, extra_test_word: str = "") -> None:
    reviews = {
        ("train", "pos"): ["Great great movie", "Loved it<br />great"],
        ("train", "neg"): ["Awful movie", "Boring, awful"],
        ("train", "unsup"): ["unlabelled text only in train"],
        ("test", "pos"): ["great " + extra_test_word],
        ("test", "neg"): ["awful awful"],
    }
    for (split, cls), texts in reviews.items():
        (root / split / cls).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / split / cls / f"{i}_7.txt").write_text(text, encoding="utf-8")


def test_imdb_folder_loader(tmp_path: Path) -> None:
    _write_imdb(tmp_path / "aclImdb", extra_test_word="unseenword")
    ds = load("imdb-folder", _settings(seq_len=6, data_path=str(tmp_path)))
    assert ds.num_classes == 2 and ds.train.y.tolist() == [0, 0, 1, 1]  # neg, pos
    assert ds.test.y.tolist() == [0, 1] and ds.train.x.shape == (4, 6)
    # train words: great x4, awful x2, movie x2, boring, it, loved -> 8 ids with pad/unknown
    assert ds.vocab_size == 8
    assert ds.test.x[1, 1] == UNK  # a word seen only in test is unknown
    sub = load("imdb-folder", _settings(seq_len=6, data_path=str(tmp_path)), n_train=2)
    assert sub.train.x.shape == (2, 6)


def _write_csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("label", "text")):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_csv_loader_single_file_and_folder(tmp_path: Path) -> None:
    rows = [[str(1 + i % 4), f'sports, "news" item {i}\nsecond line'] for i in range(40)]
    _write_csv(tmp_path / "all.csv", rows)
    ds = load("csv", _settings(data_path=str(tmp_path / "all.csv")))
    assert (len(ds.train.y), len(ds.test.y)) == (32, 8)  # 80/20, stratified per label
    assert ds.num_classes == 4 and np.bincount(ds.test.y).tolist() == [2, 2, 2, 2]  # 1..4->0..3
    again = load("csv", _settings(data_path=str(tmp_path / "all.csv"), seed=5))
    assert np.array_equal(ds.test.x, again.test.x)  # the split does not depend on the seed
    folder = tmp_path / "split"
    folder.mkdir()
    _write_csv(folder / "train.csv", [["x y", "b"], ["z", "a"]], header=("text", "label"))
    _write_csv(folder / "test.csv", [["q", "a"]], header=("TEXT", "Label"))
    ds2 = load("csv", _settings(data_path=str(folder)))
    assert ds2.train.y.tolist() == [1, 0] and ds2.test.y.tolist() == [0]
    assert ds2.test.x[0, 0] == UNK


def _bad_cases(tmp: Path) -> list[tuple[str, str | None, str]]:
    (tmp / "noclass" / "train" / "pos").mkdir(parents=True)
    (tmp / "noclass" / "test" / "pos").mkdir(parents=True)
    _write_imdb(tmp / "latin1")
    (tmp / "latin1" / "train" / "pos" / "9_1.txt").write_bytes("caf\xe9".encode("latin-1"))
    _write_imdb(tmp / "emptycls")
    for f in (tmp / "emptycls" / "test" / "neg").iterdir():
        f.unlink()
    _write_csv(tmp / "cols.csv", [["a", "b"]], header=("sentence", "label"))
    _write_csv(tmp / "short.csv", [["1", "fine"], ["2"]])
    _write_csv(tmp / "empty.csv", [])
    _write_csv(tmp / "one.csv", [["1", f"t {i}"] for i in range(10)])
    (tmp / "halfsplit").mkdir()
    _write_csv(tmp / "halfsplit" / "train.csv", [["1", "a"], ["2", "b"]])
    (tmp / "unseen").mkdir()
    _write_csv(tmp / "unseen" / "train.csv", [["1", "a"], ["2", "b"]])
    _write_csv(tmp / "unseen" / "test.csv", [["3", "c"]])
    (tmp / "bin.csv").write_bytes(b"label,text\n1,\xff\xfe\n")
    return [
        ("imdb-folder", None, "pass --data-path"),
        ("imdb-folder", str(tmp / "nowhere"), "has no train/ folder"),
        ("imdb-folder", str(tmp / "noclass"), "need at least 2"),
        ("imdb-folder", str(tmp / "latin1"), "9_1.txt is not UTF-8"),
        ("imdb-folder", str(tmp / "emptycls"), "holds no .txt files"),
        ("csv", str(tmp / "missing.csv"), "no such CSV file or folder"),
        ("csv", str(tmp / "cols.csv"), "must name the columns 'text' and 'label'"),
        ("csv", str(tmp / "short.csv"), "line 3: expected a text and a label"),
        ("csv", str(tmp / "empty.csv"), "holds no rows"),
        ("csv", str(tmp / "one.csv"), "needs at least 2"),
        ("csv", str(tmp / "halfsplit"), "lacks test.csv"),
        ("csv", str(tmp / "unseen"), "never occur in training"),
        ("csv", str(tmp / "bin.csv"), "is not UTF-8"),
        ("imbd-folder", None, "did you mean 'imdb-folder'"),
    ]


def test_bad_input_is_one_line_user_error(tmp_path: Path) -> None:
    for name, path, expected in _bad_cases(tmp_path):
        with pytest.raises(UserError) as exc:
            load(name, _settings(data_path=path))
        msg = str(exc.value)
        assert expected in msg and "\n" not in msg, (name, path, msg)


def test_subset_larger_than_the_data_is_a_user_error(tmp_path: Path) -> None:
    _write_imdb(tmp_path / "imdb")
    with pytest.raises(UserError, match="n_train <= 4"):
        load("imdb-folder", _settings(data_path=str(tmp_path / "imdb")), n_train=9)


def test_registered_task_and_evaluate() -> None:
    spec = TASKS["text-classification"]
    assert set(spec.datasets) == {"synthetic", "imdb-folder", "csv"}
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 2.0]])
    scores = evaluate(logits, np.array([0, 1, 1, 1]), 2)
    assert list(scores) == ["accuracy", "macro_f1"]
    assert scores["accuracy"] == 0.75 and abs(scores["macro_f1"] - (2 / 3 + 0.8) / 2) < 1e-12
