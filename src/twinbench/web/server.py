"""A static file server on 127.0.0.1 that counts the bytes it sends.

Why our own: the page's download size is a headline number, and counting at the server sees
every byte (including what Web Workers and wasm loaders fetch, which PerformanceResourceTiming
may miss). Files are served only from the mounted folders; no listings, no symlinks out, no
compression (so byte counts are the raw payload; the scenario adds gzip sizes beside them).
Cross-origin isolation (COOP/COEP) is a switch because multi-threaded wasm needs
SharedArrayBuffer, which Chromium grants only to isolated pages.
"""

from __future__ import annotations

import mimetypes
import threading
from collections import defaultdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

_TYPES = {
    ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
    ".json": "application/json", ".html": "text/html; charset=utf-8",
    ".bin": "application/octet-stream", ".onnx": "application/octet-stream",
    ".tflite": "application/octet-stream",
}
_CHUNK = 1 << 20


class StaticServer:
    """Serve ``mounts`` (URL prefix -> folder) on a free port of 127.0.0.1 until closed.

    ``sent`` maps each URL path to the bytes sent for it since the last :meth:`reset`.
    """

    def __init__(self, mounts: dict[str, Path], isolated: bool = False) -> None:
        self.mounts = {"/" + p.strip("/") + "/" if p.strip("/") else "/": Path(d).resolve()
                       for p, d in mounts.items()}
        self.isolated = isolated
        self.sent: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def resolve(self, url_path: str) -> Path | None:
        """The file a URL path names, or None when it is outside every mount (or not a file)."""
        path = unquote(urlsplit(url_path).path)
        for prefix in sorted(self.mounts, key=len, reverse=True):
            if path.startswith(prefix):
                root = self.mounts[prefix]
                target = (root / path[len(prefix):]).resolve()
                if target.is_relative_to(root) and target.is_file():
                    return target
                return None
        return None

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()

    def totals(self) -> dict[str, int]:
        with self._lock:
            return dict(self.sent)

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self.sent[path] += n

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # quiet: the worker log is for measurements

            def _headers(self, status: int, ctype: str, length: int) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(length))
                self.send_header("Cache-Control", "no-store")
                if server.isolated:
                    self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                    self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                    self.send_header("Cross-Origin-Resource-Policy", "same-origin")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                target = server.resolve(self.path)
                if target is None:
                    body = b"not found"
                    self._headers(HTTPStatus.NOT_FOUND, "text/plain", len(body))
                    self.wfile.write(body)
                    return
                ctype = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] \
                    or "application/octet-stream"
                size = target.stat().st_size
                self._headers(HTTPStatus.OK, ctype, size)
                key = unquote(urlsplit(self.path).path)
                try:
                    with target.open("rb") as f:
                        while chunk := f.read(_CHUNK):
                            self.wfile.write(chunk)
                            server._count(key, len(chunk))
                except ConnectionError:
                    pass  # the page went away mid-download; what was sent stays counted

        return Handler

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
