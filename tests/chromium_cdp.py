"""Drive the system Chromium over the DevTools protocol (a websocket), and start JupyterLab for it.

Nothing here downloads a browser: it runs Debian's ``chromium`` headless with a remote-debugging port
and talks to the page with ``websocket-client``. Used by ``tests/test_lab_browser.py`` and
``benchmarks/bench_lab.py``.

Example:
    >>> Chromium.find() is None or Chromium.find().endswith("chromium")
    True
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class CdpError(RuntimeError):
    """A DevTools call failed or a wait timed out."""


class Chromium:
    """A headless Chromium with one page, driven through the DevTools protocol.

    Example:
        >>> with Chromium() as browser:  # doctest: +SKIP
        ...     browser.navigate("http://127.0.0.1:8888/lab")
        ...     browser.evaluate("1 + 1")
        2
    """

    @staticmethod
    def find() -> str | None:
        """The system Chromium, or None."""
        return shutil.which("chromium") or shutil.which("chromium-browser")

    def __init__(self, width: int = 1400, height: int = 1000):
        import websocket  # websocket-client

        binary = self.find()
        if binary is None:
            raise CdpError("Debian's chromium is not installed (apt-get install -y chromium)")
        self._profile = tempfile.TemporaryDirectory(prefix="verif-nb-chromium-")
        self.proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise CdpError("chromium did not open its DevTools port within 60 s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.load(resp) if t.get("type") == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60)
        self._ids = itertools.count(1)
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise CdpError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page (promises awaited) and return its JSON value."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"].get("exception", {}).get("description")
            raise CdpError(f"{expression[:80]}...: {details}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float = 120, what: str = "") -> Any:
        """Poll ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = self.evaluate(expression)
            except CdpError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"timed out after {timeout_s} s waiting for {what or expression}")
            time.sleep(0.25)

    def navigate(self, url: str) -> None:
        """Open ``url`` in the page."""
        self.call("Page.navigate", url=url)

    def insert_text(self, text: str) -> None:
        """Type ``text`` into the focused element, as a keyboard would (input events fire)."""
        self.call("Input.insertText", text=text)

    def screenshot(self, path: str | os.PathLike) -> Path:
        """A PNG of the visible page."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Close the connection and stop the browser."""
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JupyterLab:
    """``verif-nb lab``'s server command in the background (token auth, loopback, app exposed to scripts).

    Example:
        >>> with JupyterLab("notebooks") as lab:  # doctest: +SKIP
        ...     lab.url("lab")
    """

    def __init__(
        self, notebook_dir: str | os.PathLike, token: str = "verif-nb-test", log: str | os.PathLike | None = None
    ):
        from verif_nb.lab import app_settings_dir, free_port, lab_command, lab_state_dir
        from verif_nb.pipeline import private_kernel

        self.token, self.port = token, free_port(18888)
        self._kernel = private_kernel()
        self._kernel.__enter__()  # the verif-nb kernel resolves to this interpreter while the server runs
        self._log = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in close()
        # fresh user settings: nothing from this machine's user; the lab's own defaults (no "fetch Jupyter news?"
        # toast) come from the application settings folder verif-nb lab writes
        self._settings = tempfile.TemporaryDirectory(prefix="verif-nb-lab-settings-")
        app_settings_dir(lab_state_dir(notebook_dir) / ".lab-app-settings")
        env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": self._settings.name}
        self.proc = subprocess.Popen(
            lab_command(self.port, token, notebook_dir, expose_app=True),
            cwd=notebook_dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise CdpError("JupyterLab did not answer /api/status within 120 s")
            time.sleep(0.25)

    def url(self, path: str) -> str:
        """An authenticated URL below the server root."""
        from verif_nb.lab import lab_url

        return lab_url(self.port, self.token, path)

    def close(self) -> None:
        """Stop the server (and the kernels it started)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        if self._kernel is not None:
            self._kernel.__exit__(None, None, None)
            self._kernel = None
        self._settings.cleanup()

    def __enter__(self) -> JupyterLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# JavaScript run in the JupyterLab page (window.jupyterapp exists with --LabApp.expose_app_in_browser).
# the open notebook panel (shell.currentWidget stays null in a headless page that never had focus)
NOTEBOOK = (
    "(window.jupyterapp && Array.from(jupyterapp.shell.widgets('main')).find(w => w.sessionContext && w.content))"
)
KERNEL_IDLE = (
    f"(() => {{ const w = {NOTEBOOK}; const k = w && w.sessionContext && w.sessionContext.session "
    "&& w.sessionContext.session.kernel; return !!(k && k.status === 'idle' && w.content "
    "&& w.content.widgets.length); })()"
)
ALL_CELLS_RAN = (
    f"(() => {{ const w = {NOTEBOOK}; "
    "const cells = w.content.widgets.filter(c => c.model.type === 'code'); "
    "return w.sessionContext.session.kernel.status === 'idle' && cells.length > 0 "
    "&& cells.every(c => c.model.executionCount !== null); })()"
)
ERRORS = (
    f"(() => {{ const w = {NOTEBOOK}; return w.content.widgets.filter(c => c.model.type === 'code')"
    ".flatMap(c => c.model.outputs.toJSON()).filter(o => o.output_type === 'error')"
    ".map(o => o.ename + ': ' + o.evalue); })()"
)
