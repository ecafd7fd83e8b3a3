"""XLA's optimized-HLO dump: the ``op_name`` of every instruction, for naming JAX's thunks.

XLA reads ``XLA_FLAGS`` once, when JAX is imported, so the runner adds the dump flags to the
worker's environment (``worker_env``) and the worker reads the dump after its steps compiled.
No framework is imported here: the orchestrator calls ``worker_env``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

_DUMP_FLAG = re.compile(r"--xla_dump_to=(\S+)")
_DUMP_FILE = re.compile(r"module_(\d+)\.(.+?)\.(?:cpu_)?after_optimizations\.txt$")
_INSTR = re.compile(r'^\s*(?:ROOT\s+)?%?([\w.\-]+) = .*?metadata=\{[^}]*?op_name="([^"]*)"',
                    re.MULTILINE)
# A fusion XLA left without metadata (YNNPACK 1x1 convolutions) is named by what it calls: the
# op_name, else the opcode, of its computation's ROOT instruction.
_CALLS = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+) = (?!.*op_name=).*?calls=%?([\w.\-]+)",
                    re.MULTILINE)
_COMPUTATION = re.compile(r"^%?([\w.\-]+) \([^\n]*\{\n(.*?)^\}", re.MULTILINE | re.DOTALL)
_ROOT = re.compile(r"^\s*ROOT\s+%?[\w.\-]+ = (?:\([^)]*\)|\S+)\s+([\w-]+)\((.*)$", re.MULTILINE)
_OP_NAME = re.compile(r'op_name="([^"]*)"')


def _op_names(text: str) -> dict[str, str]:
    """Instruction -> op_name (or, for a fusion without one, what its computation computes)."""
    names = dict(_INSTR.findall(text))
    roots = {}
    for comp, body in _COMPUTATION.findall(text):
        root = _ROOT.search(body)
        if root:
            op_name = _OP_NAME.search(root.group(2))
            roots[comp] = op_name.group(1) if op_name else root.group(1)
    for instr, comp in _CALLS.findall(text):
        if instr not in names and comp in roots:
            names[instr] = roots[comp]
    return names


def worker_env(env: dict[str, str], job_slug: str) -> dict[str, str]:
    """Dump the optimized HLO of compiled step functions (costs compile time only).

    Our flags go first: XLA ignores every flag after a token that is not ``--name=value``.
    """
    dump = Path(tempfile.gettempdir()) / f"twinbench-hlo-{os.getpid()}-{job_slug}"
    flags = f"--xla_dump_to={dump} --xla_dump_hlo_as_text --xla_dump_hlo_module_re=.*step.*"
    return {"XLA_FLAGS": f"{flags} {env.get('XLA_FLAGS', '')}".strip()}


def read_op_names(into: dict[tuple[str, str], str]) -> bool:
    """Add (program id, instruction) -> op_name from the dump, then delete the dump.

    Returns whether the map holds any metadata (from every read so far, so it cannot say
    whether one capture's ops got names: ``metadata_note`` does that).
    """
    m = _DUMP_FLAG.search(os.environ.get("XLA_FLAGS", ""))
    if m:
        dump = Path(m.group(1))
        for f in dump.glob("*after_optimizations.txt"):
            fm = _DUMP_FILE.search(f.name)
            if fm:
                for instr, op_name in _op_names(f.read_text(errors="replace")).items():
                    into[(str(int(fm.group(1))), instr)] = op_name
        shutil.rmtree(dump, ignore_errors=True)  # megabytes of IR; the map is what we need
    return bool(into)


def metadata_note(keys: Iterable[str]) -> list[str]:
    """The note for a capture none of whose XLA thunks got an ``op_name`` (keys "hlo:m:op[ name]").

    Judged per capture from its own events: the train phase's names must not hide that the
    infer phase (eager ops, modules the dump does not cover) has none.
    """
    thunks = [k for k in keys if k.startswith("hlo:")]
    if not thunks or any(" " in k for k in thunks):
        return []
    return [f"XLA HLO metadata unavailable for all {len(thunks)} XLA thunks of this capture: "
            "fused XLA ops were categorised by instruction and module name only"]
