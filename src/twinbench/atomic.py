"""One way to write a results file: readers, and a kill -9 halfway, see it whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it over ``path`` (atomic on one file system)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
