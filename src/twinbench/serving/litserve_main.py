"""LitServe (Lightning's server) as shipped: a ``LitAPI`` over one backend, ``LitServer`` with
one worker on the CPU, on 127.0.0.1. LitServe runs its API server and its inference worker as
processes of their own (uvicorn + multiprocessing); their count and memory are recorded.

    python -m twinbench.serving.litserve_main SPEC.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import litserve as ls

from twinbench.serving.protocol import LOOPBACK, decode_obj, encode


class Api(ls.LitAPI):  # type: ignore[misc]  # litserve ships no type information
    """LitServe's four hooks over a twinbench backend (picklable: LitServe sends it to its
    worker process)."""

    def __init__(self, backend: str, entry: dict[str, Any]) -> None:
        super().__init__()
        self.backend, self.entry = backend, entry

    def setup(self, device: str) -> None:
        from twinbench.serving.backends import load

        self.model, self.knobs = load(self.backend, self.entry)

    # unannotated, as LitServe's docs write it: LitServe reads the annotation to choose how
    # to parse the request (an annotation it does not know becomes a query parameter)
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return decode_obj(request, "inputs")

    def predict(self, x: Any) -> Any:
        return self.model(x)

    def encode_response(self, output: Any) -> dict[str, Any]:
        return json.loads(encode(output, "outputs"))  # type: ignore[no-any-return]


def main(spec_path: str) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    server = ls.LitServer(Api(spec["backend"], spec["entry"]), accelerator="cpu", devices=1,
                          workers_per_device=1, timeout=float(spec.get("timeout_s", 30)))
    server.run(host=LOOPBACK, port=int(spec["port"]), num_api_servers=1, log_level="warning",
               generate_client_file=False)


if __name__ == "__main__":
    main(sys.argv[1])
