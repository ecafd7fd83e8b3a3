"""Framework-neutral text data: raw texts in, int32 token ids out, one tokenizer for every twin.

Both twins must see exactly the same ids in the same order, so tokenisation happens once, here,
in plain Python/numpy: lower-case, drop HTML tags (IMDB reviews hold ``<br />``), split on a
regex. The vocabulary comes from the TRAIN split only (test words the model never saw become
"unknown", as they would in deployment), most frequent first, ties broken alphabetically, so it
is a pure function of the training texts. Id 0 is padding, id 1 unknown.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from twinbench.errors import UserError

PAD, UNK = 0, 1
_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"\w+(?:'\w+)*")  # words keep inner apostrophes: "don't", "it's"


def tokenize(text: str) -> list[str]:
    """Deterministic word-level split; the same for every framework and every run."""
    return _WORD.findall(_TAG.sub(" ", text).lower())


@dataclass(frozen=True)
class Vocab:
    """Word -> id; ids 0 (padding) and 1 (unknown) are reserved."""

    words: tuple[str, ...]  # words[i] has id i + 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", {w: i + 2 for i, w in enumerate(self.words)})

    def __len__(self) -> int:  # the embedding table size a model needs
        return len(self.words) + 2

    def id(self, word: str) -> int:
        return self._ids.get(word, UNK)  # type: ignore[attr-defined]


def build_vocab(texts: Iterable[str], max_size: int) -> Vocab:
    """The ``max_size - 2`` most frequent words of ``texts`` (ties: alphabetical)."""
    if max_size < 2:
        raise UserError(f"the vocabulary needs room for padding and unknown: max_vocab >= 2, "
                        f"got {max_size}")
    counts = Counter(w for t in texts for w in tokenize(t))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return Vocab(tuple(w for w, _ in ranked[: max_size - 2]))


def encode(texts: Sequence[str], vocab: Vocab, seq_len: int) -> np.ndarray:
    """(N, seq_len) int32 ids: the first ``seq_len`` tokens, then 0-padding on the right.

    A text with no tokens becomes a single UNK: every row keeps at least one real token, so no
    attention row is fully masked (torch turns that into NaN, Keras into uniform weights).
    """
    if seq_len < 1:
        raise UserError(f"seq_len must be >= 1, got {seq_len}")
    out = np.zeros((len(texts), seq_len), dtype=np.int32)
    for i, text in enumerate(texts):
        ids = [vocab.id(w) for w in tokenize(text)[:seq_len]] or [UNK]
        out[i, : len(ids)] = ids
    return out


# ----------------------------------------------------------------- the synthetic corpus

SYNTH_CLASSES = 4
_SYLLABLES = ("ba", "ko", "ri", "tu", "me", "sa", "lo", "vi", "da", "ne", "pu", "ga", "fe", "zo")
_FILLER = 200  # filler words, Zipf-distributed like real text
_KEYWORDS = 5  # keywords per class
# Keywords of the true class per sentence, and at most this many of each other class. Tuned so
# the small twin learns it with the default SGD (lr 0.05, momentum 0.9) in 2 epochs of 640.
_COUNT = (3, 6)
_DISTRACT = 1
_TAG_SYNTH = 0x7E47
SYNTH_MIN_LEN = 16  # up to 6 + 3 * 1 = 9 keywords must fit inside the first seq_len words


def _lexicon() -> list[str]:
    """Distinct pronounceable pseudo-words, fixed for every seed (only their use is seeded)."""
    s = _SYLLABLES
    words = [a + b + c for a in s for b in s for c in s]  # 2744 three-syllable words
    order = np.random.default_rng([_TAG_SYNTH]).permutation(len(words))
    return [words[i] for i in order[: _FILLER + SYNTH_CLASSES * _KEYWORDS]]


def synthetic_texts(n: int, seq_len: int, seed: int, stream: int) -> tuple[list[str], np.ndarray]:
    """``n`` sentences with class keywords hidden in Zipf filler, and their labels.

    The label is the class whose keywords occur most often (3-6 times); keywords of the other
    classes are mixed in as distractors (at most one each), so the presence of a keyword is not
    enough, the counts decide.
    Lengths vary from a few words to beyond ``seq_len`` (those get truncated; their keywords are
    placed inside the first ``seq_len`` words so truncation never changes the label).
    """
    if seq_len < SYNTH_MIN_LEN:
        raise UserError(f"the synthetic text set needs seq_len >= {SYNTH_MIN_LEN} (room for its "
                        f"keywords), got {seq_len}")
    lex = _lexicon()
    filler, keys = lex[:_FILLER], lex[_FILLER:]
    zipf = np.cumsum(1.0 / np.arange(1, _FILLER + 1))
    zipf /= zipf[-1]  # CDF; searchsorted draws from it far faster than rng.choice(p=...)
    rng = np.random.default_rng([_TAG_SYNTH, seed, stream])
    y = np.arange(n, dtype=np.int64) % SYNTH_CLASSES
    rng.shuffle(y)
    texts = []
    for label in y:
        count = int(rng.integers(_COUNT[0], _COUNT[1] + 1))
        picks = [int(label)] * count
        for other in range(SYNTH_CLASSES):
            if other != label:  # distractors: fewer than the true class
                picks += [other] * int(rng.integers(0, min(count - 1, _DISTRACT) + 1))
        length = int(rng.integers(max(len(picks), seq_len // 4), seq_len + seq_len // 4 + 1))
        words = [filler[i] for i in np.searchsorted(zipf, rng.random(length), side="right")]
        where = rng.choice(min(length, seq_len), size=len(picks), replace=False)
        for pos, cls in zip(where, picks, strict=True):
            words[pos] = keys[cls * _KEYWORDS + int(rng.integers(_KEYWORDS))]
        texts.append(" ".join(words).capitalize() + ".")
    return texts, y
