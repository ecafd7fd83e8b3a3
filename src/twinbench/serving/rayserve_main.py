"""Ray Serve as shipped: a local Ray instance of one CPU (dashboard off, object store
capped, every address 127.0.0.1), one deployment of one replica over one backend, its HTTP
proxy on 127.0.0.1. Ray runs its GCS, raylet, controller, proxy and replica as processes of
their own; their count and memory are recorded.

    python -m twinbench.serving.rayserve_main SPEC.json
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any


def main(spec_path: str) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    import ray
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import Response

    from twinbench.serving.protocol import LOOPBACK, PATH

    ray.init(num_cpus=1, include_dashboard=False, _node_ip_address=LOOPBACK,
             object_store_memory=256 * 2**20, log_to_driver=False)
    serve.start(http_options={"host": LOOPBACK, "port": int(spec["port"])})

    @serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 1})
    class Served:
        def __init__(self, backend: str, entry: dict[str, Any]) -> None:
            from twinbench.serving.backends import load

            self.model, self.knobs = load(backend, entry)

        async def __call__(self, request: Request) -> Response:
            from twinbench.serving.protocol import decode, response

            x = decode(await request.body(), "inputs")
            return Response(response(self.model(x)), media_type="application/json")

    serve.run(Served.bind(spec["backend"], spec["entry"]),  # type: ignore[attr-defined]
              route_prefix=PATH,
              blocking=False)

    def stop(*_: Any) -> None:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1])
