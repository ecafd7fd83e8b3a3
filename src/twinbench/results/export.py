"""results.jsonl: the public, line-per-record export of a study (regenerated from the store)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from twinbench.atomic import write_atomic
from twinbench.errors import UserError
from twinbench.results.schema import Record, SchemaError, note_upgraded, read_record


def write_jsonl(path: Path, records: Iterable[Record]) -> None:
    """Write atomically: a reader never sees a half-written file."""
    write_atomic(path, "".join(r.model_dump_json() + "\n" for r in records))


def read_jsonl(path: Path) -> list[Record]:
    out = []
    upgraded: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            out.append(read_record(data, f"{path}:{n}", upgraded))
        except SchemaError as exc:
            raise UserError(str(exc)) from exc
        except ValueError as exc:
            raise UserError(f"{path}:{n} is not a twinbench record ({str(exc)[:120]})") from exc
    if upgraded:
        note_upgraded({str(path)})
    return out
