"""serve(): finds the neuromapper binary, runs `neuromapper serve RUN` in the background, and wraps it as a Viewer."""

from __future__ import annotations

import collections
import html
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.request
from typing import Deque, List, Optional, Sequence, Union

PathLike = Union[str, "os.PathLike[str]"]

#: Seconds to wait for the binary to print its URL and answer on it.
DEFAULT_START_TIMEOUT_S = 60.0
#: Seconds `stop()` waits after terminating before it kills.
STOP_GRACE_S = 5.0
#: Lines of the binary's stderr kept for error messages and `Viewer.log`.
LOG_LINES = 200

_EXE = "neuromapper.exe" if os.name == "nt" else "neuromapper"


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _source_tree_binaries() -> List[str]:
    """target/release and target/debug builds of a source checkout this package runs from."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isfile(os.path.join(root, "crates", "neuromapper", "Cargo.toml")):
        return []
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(root, "target")
    return [os.path.join(target, profile, _EXE) for profile in ("release", "debug")]


def find_binary() -> str:
    """The path of the `neuromapper` binary.

    Looked for, in order: the environment variable NEUROMAPPER_BIN; the scripts folder of this
    Python (where `pip install .` puts it, also the user scheme's); `neuromapper` on PATH; and, when
    this package runs from a source checkout, its target/release then target/debug build.
    Raises FileNotFoundError saying how to get one.
    """
    env = os.environ.get("NEUROMAPPER_BIN")
    if env:
        if _is_executable(env):
            return env
        raise FileNotFoundError(f"NEUROMAPPER_BIN={env} is not an executable file; point it at the neuromapper binary")
    candidates = [os.path.join(os.path.dirname(sys.executable), _EXE)]
    for scheme in (None, f"{os.name}_user"):
        try:
            scripts = sysconfig.get_path("scripts") if scheme is None else sysconfig.get_path("scripts", scheme)
        except KeyError:
            continue
        if scripts:
            candidates.append(os.path.join(scripts, _EXE))
    on_path = shutil.which(_EXE)
    if on_path:
        candidates.append(on_path)
    candidates += _source_tree_binaries()
    for c in candidates:
        if _is_executable(c):
            return c
    raise FileNotFoundError(
        "the neuromapper binary was not found (looked in NEUROMAPPER_BIN, this Python's scripts folder, PATH "
        "and a source checkout's target/); install it with `pip install .` in a clone of neuromapper "
        "(builds the Rust binary; needs cargo), or set NEUROMAPPER_BIN to its path"
    )


class Viewer:
    """A running `neuromapper serve RUN` in the background.

    `url` is where the viewer answers; `stop()` ends the server (also on leaving a `with` block, and
    when the object is garbage-collected). In Jupyter the object shows the viewer inline (an iframe
    of `url`; the notebook's browser must reach that address, so on a remote kernel forward the port
    or pass host="0.0.0.0").
    """

    def __init__(
        self,
        run: PathLike,
        port: Optional[int] = 0,
        host: str = "127.0.0.1",
        args: Sequence[str] = (),
        timeout: float = DEFAULT_START_TIMEOUT_S,
        binary: Optional[str] = None,
        height: int = 720,
    ) -> None:
        self._proc: Optional[subprocess.Popen] = None
        if not isinstance(run, (str, os.PathLike)):
            raise TypeError(f"run must be a folder path; got {type(run).__name__}")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
            raise ValueError(f"port must be an int in 0..65535 (0: any free port) or None (8765); got {port!r}")
        if isinstance(args, str):
            raise TypeError("args must be a sequence of strings, e.g. ('--n-neighbors', '30'), not one string")
        self.run = os.path.abspath(os.fspath(run))
        self.height = height
        self.binary = binary or find_binary()
        self.command: List[str] = [self.binary, "serve", self.run, "--no-open", "--host", host]
        if port is not None:
            self.command += ["--port", str(port)]
        self.command += [str(a) for a in args]
        self._log: Deque[str] = collections.deque(maxlen=LOG_LINES)
        self._url: Optional[str] = None
        self._url_ready = threading.Event()
        self._proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    # ---- the subprocess's output (drained continuously so the pipes never fill) -------------

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            line = line.strip()
            if self._url is None and line.startswith(("http://", "https://")):
                self._url = line
                self._url_ready.set()
            elif line:
                self._log.append(line)
        self._url_ready.set()  # EOF: the process ended

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self._log.append(line.rstrip("\n"))

    def _failure(self, what: str) -> RuntimeError:
        time.sleep(0.1)  # let the reader threads catch the last lines
        tail = "\n".join(list(self._log)[-30:]) or "(nothing)"
        return RuntimeError(f"{what}\ncommand: {' '.join(self.command)}\nits output:\n{tail}")

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self._proc is not None
        while not self._url_ready.wait(0.05):
            if time.monotonic() > deadline:
                raise self._failure(f"neuromapper serve printed no URL within {timeout:.0f} s")
        if self._url is None:
            self._proc.wait(timeout=5)
            raise self._failure(f"neuromapper serve exited with code {self._proc.returncode} before serving")
        while True:
            if self._proc.poll() is not None:
                raise self._failure(f"neuromapper serve exited with code {self._proc.returncode}")
            try:
                urllib.request.urlopen(self._url, timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answers, whatever the status
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise self._failure(f"neuromapper serve does not answer on {self._url} within {timeout:.0f} s")
                time.sleep(0.1)

    # ---- public -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The viewer's address, e.g. `http://127.0.0.1:8765/`."""
        assert self._url is not None
        return self._url

    @property
    def running(self) -> bool:
        """Whether the server process is still running."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        """The server's exit code once it ended, else None."""
        return None if self._proc is None else self._proc.poll()

    @property
    def log(self) -> List[str]:
        """The last lines the server wrote to stderr (and any stdout besides the URL)."""
        return list(self._log)

    def stop(self, timeout: float = STOP_GRACE_S) -> Optional[int]:
        """Ends the server: terminate, wait up to `timeout` seconds, then kill. Returns its exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except (OSError, ValueError):
                pass
        return proc.returncode

    def __enter__(self) -> "Viewer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped (exit code {self.returncode})"
        return f"<neuromapper Viewer {self._url or '?'} for {self.run}: {state}>"

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the viewer inline."""
        if not self.running:
            return f"<p>neuromapper viewer for {html.escape(self.run)} is stopped.</p>"
        url = html.escape(self.url, quote=True)
        return (
            f'<iframe src="{url}" width="100%" height="{int(self.height)}" style="border: 0" '
            f'title="neuromapper viewer"></iframe><p><a href="{url}" target="_blank">{url}</a></p>'
        )


def serve(
    run: PathLike,
    port: Optional[int] = 0,
    host: str = "127.0.0.1",
    args: Sequence[str] = (),
    timeout: float = DEFAULT_START_TIMEOUT_S,
    binary: Optional[str] = None,
) -> Viewer:
    """Starts `neuromapper serve RUN --no-open` in the background and returns its Viewer once it answers.

    Args:
        run: the run folder.
        port: 0 (default) any free port; None the binary's default (8765, or a free one when taken).
        host: the address to bind; "0.0.0.0" exposes the viewer to the network.
        args: further command-line flags for `neuromapper serve`.
        timeout: seconds to wait for the server to answer.
        binary: the neuromapper binary; default `find_binary()`.

    Raises FileNotFoundError when no binary is found, RuntimeError (with the server's output) when
    it does not start.
    """
    return Viewer(run, port=port, host=host, args=args, timeout=timeout, binary=binary)
