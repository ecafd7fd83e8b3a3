"""Headless Debian Chromium driven by Playwright: open a page, wait for its measurements.

Why the system Chromium: ``playwright install`` downloads a browser at run time, which this
project never does; Debian's ``chromium`` package is installed by ``scripts/setup.sh``. Each page
runs in a fresh browser context, so nothing is cached between runtimes and the download sizes
the server counts are those of a first visit.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

DEFAULT_CHROMIUM = "/usr/bin/chromium"
ENV_VAR = "TWINBENCH_CHROMIUM"  # another executable (tests point it at a missing file)
FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)
RESULT = "window.__twinbench"  # what every page sets when it is done (see pages/common.js)


class BrowserUnavailable(RuntimeError):
    """No usable browser: the one-line message says which executable and how to get one."""


def chromium_path() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT_CHROMIUM)


def check_chromium() -> Path:
    """The browser executable, or BrowserUnavailable with the fix in one line."""
    path = chromium_path()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BrowserUnavailable(
            f"no Chromium at {path} (run scripts/setup.sh, which apt-installs chromium, or set "
            f"{ENV_VAR})")
    try:
        import playwright  # noqa: F401
    except ImportError as exc:
        raise BrowserUnavailable("python package playwright is missing (run scripts/setup.sh)") \
            from exc
    return path


class Browser:
    """One Chromium process for many pages; use as a context manager."""

    def __init__(self, executable: Path | None = None, timeout_s: float = 180.0) -> None:
        self.executable = executable or check_chromium()
        self.timeout_ms = timeout_s * 1e3
        self._pw: Any = None
        self._browser: Any = None

    def __enter__(self) -> Browser:
        self._launch()
        return self

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=str(self.executable), args=list(FLAGS), headless=True,
                timeout=60_000)
        except Exception as exc:
            self._pw.stop()
            self._pw = self._browser = None
            raise BrowserUnavailable(f"Chromium at {self.executable} did not start: "
                                     f"{_first_line(exc)}") from exc

    def _close(self) -> None:
        for closer in (getattr(self._browser, "close", None), getattr(self._pw, "stop", None)):
            try:
                if closer is not None:
                    closer()
            except Exception:  # noqa: S110 (a dead browser cannot be closed twice; go on)
                pass
        self._pw = self._browser = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close()

    @property
    def connected(self) -> bool:
        """False once the Chromium process is gone (crashed, killed, closed)."""
        return self._browser is not None and bool(self._browser.is_connected())

    def restart(self) -> None:
        """A fresh Chromium after the last one died; BrowserUnavailable when it will not start."""
        self._close()
        self._launch()

    @property
    def version(self) -> str:
        return str(self._browser.version)

    def run_page(self, url: str) -> dict[str, Any]:
        """Open ``url`` in a fresh context and return the object the page publishes.

        Never raises for a page, renderer or browser that fails: the result is then
        ``{"ok": False, "error": <one line>}``. Page errors (uncaught exceptions, console errors)
        come back under ``"console"`` so a failure carries the browser's own words, and
        ``"workers"`` counts the Web Workers the page started (wasm thread pools are workers).
        """
        notes: list[str] = []
        workers: list[str] = []
        try:
            context = self._browser.new_context()
        except Exception as exc:  # the browser itself is gone
            return {"ok": False, "error": f"browser unusable: {_first_line(exc)}",
                    "console": [], "workers": 0}
        try:
            page = context.new_page()
            page.on("pageerror", lambda e: notes.append(f"pageerror: {e}"))
            page.on("console", lambda m: notes.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("crash", lambda _: notes.append("page crashed"))
            page.on("worker", lambda w: workers.append(w.url))
            page.goto(url, wait_until="load", timeout=self.timeout_ms)
            page.wait_for_function(f"{RESULT} !== undefined", timeout=self.timeout_ms,
                                   polling=100)
            result: dict[str, Any] = page.evaluate(RESULT)
        except Exception as exc:  # a timeout or a crashed page: say what the page said
            last = f"; page said: {notes[-1]}" if notes else ""
            result = {"ok": False, "error": f"{_first_line(exc)}{last}"}
        finally:
            try:
                context.close()
            except Exception:  # noqa: S110 (closing after a crash may fail; the result stands)
                pass
        result["console"] = notes[-20:]
        result["workers"] = len(workers)
        return result


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
