"""One request/response encoding for every backend and server: JSON with the float32 array
as base64 (as TF Serving's REST API carries binary: ``{"b64": ...}``), input in the data
set's layout (images NHWC); a backend converts to its own layout inside its timed call.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

LOOPBACK = "127.0.0.1"
PATH = "/predict"


def encode(array: np.ndarray, key: str) -> bytes:
    a = np.ascontiguousarray(array, dtype=np.float32)
    return json.dumps({key: base64.b64encode(a.tobytes()).decode("ascii"),
                       "shape": list(a.shape)}).encode()


def decode_obj(obj: dict[str, Any], key: str) -> np.ndarray:
    raw = base64.b64decode(obj[key])
    return np.frombuffer(raw, dtype=np.float32).reshape(obj["shape"])


def decode(body: bytes, key: str) -> np.ndarray:
    return decode_obj(json.loads(body), key)


def request(x: np.ndarray) -> bytes:
    return encode(x, "inputs")


def response(y: np.ndarray) -> bytes:
    return encode(y, "outputs")
