"""Code brevity of the twins: how much code a user writes in each framework for the same model.

Static analysis (no framework is imported): for every twin family (model id) and every framework
style — PyTorch (explicit loop), Lightning (LightningModule + Trainer), Keras (compile/fit) — the
pieces a user would write (the model file and the training, data and inference code of the
adapter; see ``PIECES``) are normalised and counted with radon (logical lines, cyclomatic
complexity) and Python's ``tokenize`` (tokens). Every statement is put in one category by the
documented rules of docs/brevity.md, so "why is it longer" has an answer.

Normalisation, so the counts measure code and not the harness: docstrings, comments and
``from __future__`` are dropped; keyword arguments that only serve weight transfer (``name=``
and ``data_format=`` on Keras layers) are removed; harness-only statements (timing, record
details) are dropped from the export pieces, and the statements a piece names in ``drop`` /
``unwrap`` (Lightning's, which exist because the harness calls ``fit`` many times) are removed.
Code a twin imports from another twin's file (DETR's ResNet backbone) or needs only on one side
(Keras DETR's numpy escape hatch) is counted with it: ``EXTRA``.
"""

from __future__ import annotations

import ast
import functools
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from radon.complexity import cc_visit
from radon.raw import analyze

from twinbench.frameworks.base import CODE_STYLES

PKG = Path(__file__).resolve().parent
CATEGORIES = ("model definition", "training loop", "device handling", "data pipeline",
              "metrics", "inference", "export")
STYLES = CODE_STYLES  # frameworks.base: the code styles the twins are written in
HARNESS_KWARGS = {"name", "data_format"}  # Keras layer names exist for canonical weights only
HARNESS_STMT = re.compile(r"perf_counter|_LOWERED|export_s\b|_delegation|versions\(")
# Line rules, first match wins; applied to every piece but "export" (docs/brevity.md).
RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("device handling", re.compile(
        r"\.to\(|\.cuda\(|\.cpu\(\)|torch\.device|\bdevice\b|accelerator|devices=|synchronize")),
    ("data pipeline", re.compile(
        r"DataLoader|TensorDataset|from_numpy|convert_to_tensor|permute\(|\.long\(\)|astype"
        r"|contiguous|ascontiguousarray")),
    ("metrics", re.compile(r"\.log\(|callback_metrics|\.history\[|\.detach\(\)|\.item\(\)"
                           r"|metrics=")),
)


@dataclass(frozen=True)
class Piece:
    """A part of one style's code: a whole file, or a class/function in it (``Class.method``)."""

    path: str  # relative to the twinbench package; {model} is filled in
    qualname: str | None
    category: str
    exclude: tuple[str, ...] = ()  # methods left out of a class piece (harness-only)
    # harness-only statements, matched (regex) on the first line of the statement's code:
    drop: tuple[str, ...] = ()  # removed with their bodies
    unwrap: tuple[str, ...] = ()  # compound statements replaced by their bodies


_EXPORT_TORCH = (Piece("export/mobile_executorch.py", "_quantize", "export"),
                 Piece("export/mobile_executorch.py", "export", "export"))
_TORCH_IO = (Piece("frameworks/pytorch/adapter.py", "TorchAdapter.to_device", "data pipeline"),
             Piece("frameworks/pytorch/adapter.py", "TorchAdapter.labels", "data pipeline"),
             Piece("frameworks/pytorch/adapter.py", "TorchAdapter.predict", "inference"))
PIECES: dict[str, tuple[Piece, ...]] = {
    "pytorch": (
        Piece("zoo/pytorch/{model}.py", None, "model definition"),
        Piece("frameworks/pytorch/adapter.py", "make_optimizer", "training loop"),
        Piece("frameworks/pytorch/adapter.py", "TorchAdapter.compile_train", "training loop"),
        Piece("frameworks/pytorch/adapter.py", "TorchAdapter.fit", "training loop"),
        *_TORCH_IO, *_EXPORT_TORCH),
    "lightning": (
        Piece("zoo/pytorch/{model}.py", None, "model definition"),
        Piece("frameworks/pytorch/adapter.py", "make_optimizer", "training loop"),
        # the optimizer cache exists because the harness calls fit many times (docs/brevity.md)
        Piece("frameworks/lightning/adapter.py", "LitTwin", "training loop",
              exclude=("set_optimizer",), drop=(r"^self\._opt: .* = None$",),
              unwrap=(r"^if self\._opt is None:$",)),
        Piece("frameworks/lightning/adapter.py", "LightningAdapter._trainer", "training loop"),
        # the empty-loader guard and the move back after Trainer's teardown serve the harness
        Piece("frameworks/lightning/adapter.py", "LightningAdapter.fit", "training loop",
              drop=(r"^if len\(loader\) == 0:$", r"^net\.to\(self\.device\)$")),
        *_TORCH_IO, *_EXPORT_TORCH),
    "keras": (
        Piece("zoo/keras/{model}.py", None, "model definition"),
        Piece("frameworks/keras/adapter.py", "KerasAdapter.compile_train", "training loop"),
        Piece("frameworks/keras/adapter.py", "KerasAdapter.fit", "training loop"),
        Piece("frameworks/keras/adapter.py", "KerasAdapter.to_device", "data pipeline"),
        Piece("frameworks/keras/adapter.py", "KerasAdapter.labels", "data pipeline"),
        Piece("frameworks/keras/adapter.py", "KerasAdapter.predict", "inference"),
        Piece("export/mobile_litert.py", "_options", "export"),
        Piece("export/mobile_litert.py", "export", "export")),
}

_TORCH_BACKBONE = (Piece("zoo/pytorch/resnet.py", "conv3x3", "model definition"),
                   Piece("zoo/pytorch/resnet.py", "BasicBlock", "model definition"))
# (style, model) -> pieces a twin uses from elsewhere: a user writing that model writes them too
EXTRA: dict[tuple[str, str], tuple[Piece, ...]] = {
    ("pytorch", "detr"): _TORCH_BACKBONE,
    ("lightning", "detr"): _TORCH_BACKBONE,
    ("keras", "detr"): (Piece("zoo/keras/resnet.py", "_conv3x3", "model definition"),
                        Piece("zoo/keras/resnet.py", "_bn", "model definition"),
                        Piece("zoo/keras/resnet.py", "_basic_block", "model definition"),
                        # the Hungarian matcher runs in numpy from Keras' compiled train step
                        Piece("frameworks/keras/host_call.py", None, "training loop")),
}


@dataclass
class Count:
    """Counts for one model in one style; ``core`` excludes export (the same for every model)."""

    model: str
    style: str
    lloc: int = 0  # radon logical lines of the normalised code
    sloc: int = 0  # radon source lines of the original code (formatting-dependent)
    tokens: int = 0
    cc: int = 0  # summed cyclomatic complexity of functions and methods (radon)
    statements: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    tokens_by: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    files: list[str] = field(default_factory=list)

    @property
    def core_statements(self) -> int:
        return sum(v for k, v in self.statements.items() if k != "export")

    @property
    def core_tokens(self) -> int:
        return sum(v for k, v in self.tokens_by.items() if k != "export")


class _Strip(ast.NodeTransformer):
    """Drop docstrings, ``from __future__``, harness kwargs and harness-only statements."""

    def __init__(self, harness: bool, drop: tuple[str, ...] = (),
                 unwrap: tuple[str, ...] = ()) -> None:
        self.harness, self.drop, self.unwrap = harness, drop, unwrap
        self.used: set[str] = set()  # drop/unwrap patterns that matched (stale ones are bugs)

    def _match(self, patterns: tuple[str, ...], s: ast.stmt) -> bool:
        head = ast.unparse(s).splitlines()[0]
        hit = [p for p in patterns if re.search(p, head)]
        self.used.update(hit)
        return bool(hit)

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                       and isinstance(s.value.value, str))]
        out = [s for s in out if not (isinstance(s, ast.ImportFrom) and s.module == "__future__")]
        if self.harness:
            out = [s for s in out if not HARNESS_STMT.search(ast.unparse(s))]
        out = [s for s in out if not self._match(self.drop, s)]
        out = [x for s in out for x in (s.body if isinstance(s, ast.If | ast.With | ast.For)
                                        and self._match(self.unwrap, s) else [s])]
        return out or [ast.Pass()]

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            if isinstance(getattr(node, name, None), list) and getattr(node, name) \
                    and isinstance(getattr(node, name)[0], ast.stmt):
                setattr(node, name, self._body(getattr(node, name)))
        if isinstance(node, ast.Call):
            node.keywords = [k for k in node.keywords if k.arg not in HARNESS_KWARGS]
        return node


def _segment(path: Path, piece: Piece) -> str:
    """The source text of the piece (a whole file, a class without excluded methods, a def)."""
    return _segment_of(path.read_text(encoding="utf-8"), piece)


@functools.lru_cache(maxsize=256)
def _segment_of(src: str, piece: Piece) -> str:
    if piece.qualname is None:
        return src
    node: ast.AST = ast.parse(src)
    for part in piece.qualname.split("."):
        node = next(n for n in ast.iter_child_nodes(node)
                    if isinstance(n, ast.ClassDef | ast.FunctionDef) and n.name == part)
    lines = src.splitlines()
    for n in getattr(node, "body", []):  # excluded methods become blank lines
        if getattr(n, "name", None) in piece.exclude:
            start = min([n.lineno] + [d.lineno for d in n.decorator_list])
            lines[start - 1:n.end_lineno] = [""] * (n.end_lineno - start + 1)
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return textwrap.dedent("\n".join(lines[first - 1:node.end_lineno]))


def categorize(statement: str, default: str) -> str:
    """The category of one statement's own text (for compound statements, the header)."""
    if default == "export":
        return default
    for category, pattern in RULES:
        if pattern.search(statement):
            return category
    return default


def _tokens(text: str) -> int:
    skip = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
    try:
        toks = tokenize.generate_tokens(io.StringIO(text).readline)
        return sum(1 for t in toks if t.type not in skip)
    except (tokenize.TokenError, IndentationError):
        return len(text.split())


def _own_lines(node: ast.stmt, lines: list[str]) -> str:
    """The statement's own text in normalised code (one line each; headers without bodies)."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    body = getattr(node, "body", None)
    last = body[0].lineno - 1 if isinstance(body, list) and body and isinstance(
        body[0], ast.stmt) else node.end_lineno or node.lineno
    return "\n".join(ln.strip() for ln in lines[first - 1:max(last, node.lineno)] if ln.strip())


def measure_source(source: str, category: str, into: Count, drop: tuple[str, ...] = (),
                   unwrap: tuple[str, ...] = ()) -> None:
    """Add one piece's counts to ``into``."""
    sloc, lloc, cc, statements, tokens_by = _measure(source, category, drop, unwrap)
    into.sloc += sloc
    into.lloc += lloc
    into.cc += cc
    for cat in CATEGORIES:
        into.statements[cat] += statements.get(cat, 0)
        into.tokens_by[cat] += tokens_by.get(cat, 0)
        into.tokens += tokens_by.get(cat, 0)


@functools.lru_cache(maxsize=256)
def _measure(source: str, category: str, drop: tuple[str, ...] = (),
             unwrap: tuple[str, ...] = ()) -> tuple[int, int, int, dict[str, int], dict[str, int]]:
    """(sloc, lloc, cc, statements by category, tokens by category); pieces repeat across
    families (adapters, export code), so each distinct piece is analysed once."""
    into = Count("", "")
    raw = analyze(source)
    tree = _Strip(category == "export", drop, unwrap).visit(ast.parse(source))
    norm = ast.unparse(tree)
    into.sloc = raw.sloc
    into.lloc = analyze(norm).lloc
    into.cc = sum(b.complexity for b in _flat(cc_visit(norm)))
    lines = norm.splitlines()
    for node in ast.walk(ast.parse(norm)):
        if isinstance(node, ast.stmt | ast.ExceptHandler) and not isinstance(node, ast.Pass):
            own = _own_lines(node, lines)
            header = isinstance(node, ast.FunctionDef | ast.ClassDef)  # declarations: no rules
            cat = category if header else categorize(own, category)
            into.statements[cat] += 1
            into.tokens_by[cat] += _tokens(own)
    return into.sloc, into.lloc, into.cc, into.statements, into.tokens_by


def _flat(blocks: list) -> list:
    """Functions and methods, each once (radon reports classes with their methods inside)."""
    out = []
    for b in blocks:
        if hasattr(b, "methods"):
            out += list(b.methods)
        else:
            out.append(b)
    return out


def measure(model: str, style: str, root: Path = PKG) -> Count | None:
    """Counts for ``model`` in ``style``, or None when a file of the twin does not exist."""
    count = Count(model, style)
    for piece in PIECES[style] + EXTRA.get((style, model), ()):
        path = root / piece.path.format(model=model)
        if not path.is_file():
            return None
        measure_source(_segment(path, piece), piece.category, count, piece.drop, piece.unwrap)
        where = piece.path.format(model=model) + (f"::{piece.qualname}" if piece.qualname else "")
        count.files.append(where)
    return count


def family_table(models: list[str] | None = None, root: Path = PKG) -> list[Count]:
    """Every twin family (default: every zoo model) in every style present in this checkout."""
    if models is None:
        from twinbench.zoo import MODELS

        models = list(MODELS)
    out = []
    for m in models:
        for style in STYLES:
            c = measure(m, style, root)
            if c is not None:
                out.append(c)
    return out


def stale_rules(root: Path = PKG) -> list[str]:
    """``drop``/``unwrap`` patterns that match no statement of their piece: the code they were
    written for has changed, and the counts would silently include harness statements again."""
    out = []
    for piece in {p for ps in (*PIECES.values(), *EXTRA.values()) for p in ps
                  if p.drop or p.unwrap}:
        strip = _Strip(piece.category == "export", piece.drop, piece.unwrap)
        strip.visit(ast.parse(_segment(root / piece.path, piece)))
        out += [f"{piece.path}::{piece.qualname}: {p}" for p in (*piece.drop, *piece.unwrap)
                if p not in strip.used]
    return sorted(out)
