"""The runtime tier's neutral front end: one aiohttp process on 127.0.0.1, one backend, one
request at a time (the handler calls the model on the event loop, so requests queue in
arrival order, as in a one-worker service).

    python -m twinbench.serving.server_main SPEC.json

SPEC: backend, entry (its export manifest entry), port. ``GET /health`` answers once the
backend is loaded, with its load seconds and knobs; ``POST /predict`` takes and returns the
``protocol`` encoding. ``entry.crash_after`` (tests) makes the process die after that many
answers, as a native crash would.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def main(spec_path: str) -> None:
    t0 = time.perf_counter()
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    from aiohttp import web

    from twinbench.serving.backends import load
    from twinbench.serving.protocol import LOOPBACK, PATH, decode, response

    predict, knobs = load(spec["backend"], spec["entry"])
    load_s = time.perf_counter() - t0
    crash_after = spec["entry"].get("crash_after")
    served = 0

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"load_s": load_s, "knobs": knobs, "pid": os.getpid(),
                                  "server": "aiohttp"})

    async def predict_handler(request: web.Request) -> web.Response:
        nonlocal served
        x = decode(await request.read(), "inputs")
        body = response(predict(x))
        served += 1
        if crash_after is not None and served > crash_after:
            os._exit(70)
        return web.Response(body=body, content_type="application/json")

    app = web.Application(client_max_size=64 * 2**20)
    app.add_routes([web.get("/health", health), web.post(PATH, predict_handler)])
    web.run_app(app, host=LOOPBACK, port=int(spec["port"]), print=None, access_log=None,
                handle_signals=True)


if __name__ == "__main__":
    main(sys.argv[1])
