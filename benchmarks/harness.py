"""A real Jupyter kernel, and a count of everything it publishes on IOPub for one cell.

The count reads IOPub with a raw ZeroMQ SUB socket whose receive high-water mark is 0
(unlimited): jupyter_client's default of 1,000 queued messages silently drops messages of a
flood (FIELD-NOTES), and a harness that drops messages under-counts exactly the views that
flood. Every frame of a message counts (routing prefix, delimiter, signature, the four JSON
parts, binary buffers), as it crosses the socket.

Also measured per cell, from outside the kernel: its CPU time (psutil, all threads), and its
peak resident memory above the level before the cell (Linux: ``clear_refs`` resets the
high-water mark ``VmHWM``, read back after the cell).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import zmq
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

__all__ = ["CellRecord", "Kernel", "Message", "max_per_second"]

PAGE_TYPES = frozenset(
    {
        "comm_open",
        "comm_msg",
        "comm_close",
        "display_data",
        "update_display_data",
        "execute_result",
        "stream",
        "clear_output",
        "error",
    }
)
"""Messages that change what the page shows; ``status`` and ``execute_input`` do not."""


@dataclass(frozen=True)
class Message:
    time: float  # time.time() when the harness received it
    type: str
    size: int  # bytes on the socket, all frames
    detail: str = ""  # comm method or custom message type, when cheap to tell
    marked: bool = False  # carries the marker text (the answer's first fragment)


@dataclass
class CellRecord:
    """What one cell published, and what it cost the kernel."""

    messages: list[Message] = field(default_factory=list)
    started: float = 0.0  # time.time() the request left the harness
    cpu: float = 0.0  # kernel CPU seconds during the cell
    peak: int = 0  # kernel peak RSS above its RSS before the cell, bytes
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(m.size for m in self.messages)

    @property
    def count(self) -> int:
        return len(self.messages)

    @property
    def span(self) -> float:
        """Seconds from the first message of the cell (status busy) to its last (idle)."""
        if len(self.messages) < 2:
            return 0.0
        return self.messages[-1].time - self.messages[0].time

    @property
    def page(self) -> list[Message]:
        return [m for m in self.messages if m.type in PAGE_TYPES]

    def updates(self, gap: float = 0.002) -> list[float]:
        """Times of view updates: page messages sent together (within ``gap``) count once.

        A throttled flush sends one message per changed widget back to back; that is one
        update of the view, one frame.
        """
        times: list[float] = []
        for message in self.page:
            if not times or message.time - times[-1] > gap:
                times.append(message.time)
        return times

    def first_marked(self) -> float | None:
        return next((m.time for m in self.messages if m.marked), None)

    def by_type(self) -> dict[str, tuple[int, int]]:
        """``type[/detail]`` -> (messages, bytes)."""
        out: dict[str, tuple[int, int]] = {}
        for m in self.messages:
            key = f"{m.type}/{m.detail}" if m.detail else m.type
            count, size = out.get(key, (0, 0))
            out[key] = (count + 1, size + m.size)
        return out


def max_per_second(times: list[float]) -> int:
    """The most of ``times`` (sorted) inside any one-second window."""
    best, start = 0, 0
    for end, now in enumerate(times):
        while now - times[start] > 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


class _Recorder(threading.Thread):
    """Reads IOPub into per-parent records until stopped."""

    def __init__(self, context: zmq.Context, address: str) -> None:
        super().__init__(name="iopub-recorder", daemon=True)
        self.socket = context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.socket.connect(address)
        self.lock = threading.Lock()
        self.records: dict[str, CellRecord] = {}
        self.idle: dict[str, threading.Event] = {}
        self.marker: bytes = b""
        self.seen = threading.Event()
        self.stopping = False

    def watch(self, msg_id: str, record: CellRecord) -> threading.Event:
        with self.lock:
            self.records[msg_id] = record
            event = self.idle[msg_id] = threading.Event()
        return event

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        while not self.stopping:
            if not poller.poll(100):
                continue
            frames = self.socket.recv_multipart(copy=True)
            now = time.time()
            self.seen.set()
            try:
                at = frames.index(b"<IDS|MSG>")
            except ValueError:
                continue
            header = json.loads(frames[at + 2])
            parent = json.loads(frames[at + 3]) if len(frames[at + 3]) > 2 else {}
            msg_id = parent.get("msg_id", "")
            with self.lock:
                record = self.records.get(msg_id)
            if record is None:
                continue
            kind = header.get("msg_type", "")
            content = frames[at + 5]
            record.messages.append(
                Message(
                    time=now,
                    type=kind,
                    size=sum(len(f) for f in frames),
                    detail=_detail(kind, content),
                    marked=bool(self.marker) and self.marker in content,
                )
            )
            if kind == "status" and b'"idle"' in content:
                self.idle[msg_id].set()
        self.socket.close(linger=0)


def _detail(kind: str, content: bytes) -> str:
    """The comm method (``update``/``custom``) and a custom message's own type."""
    if kind != "comm_msg":
        return ""
    head = content[:300]
    method = "custom" if b'"method": "custom"' in head or b'"method":"custom"' in head else ""
    if not method:
        return "update"
    for name in (b"delta", b"snapshot"):
        if b'"type": "' + name in head or b'"type":"' + name in head:
            return f"custom:{name.decode()}"
    return "custom"


class Kernel:
    """An ipykernel of ``python`` (any virtual environment), driven cell by cell."""

    def __init__(
        self, python: str, *, env: dict[str, str] | None = None, cwd: str | None = None
    ) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="luxx-bench-kernel-"))
        spec = self._dir / "kernels" / "bench"
        spec.mkdir(parents=True)
        argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "bench", "language": "python"})
        )
        specs = KernelSpecManager(kernel_dirs=[str(self._dir / "kernels")])
        self.manager = KernelManager(kernel_name="bench", kernel_spec_manager=specs)
        full_env = {**os.environ, **(env or {})}
        self.manager.start_kernel(env=full_env, cwd=cwd or os.getcwd())
        self.client = self.manager.blocking_client()
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=True)
        info = self.manager.get_connection_info()
        self._context = zmq.Context()
        address = f"{info['transport']}://{info['ip']}:{info['iopub_port']}"
        self._recorder = _Recorder(self._context, address)
        self._recorder.start()
        self.process = psutil.Process(self.manager.provisioner.process.pid)  # type: ignore[union-attr]
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        """Until the kernel answers and our SUB socket is subscribed (slow joiner)."""
        deadline = time.monotonic() + timeout
        while not self._recorder.seen.is_set():
            if time.monotonic() > deadline:
                raise RuntimeError("the kernel did not start")
            self.client.kernel_info()
            try:
                self.client.get_shell_msg(timeout=1.0)
            except Exception:
                continue
            self._recorder.seen.wait(0.5)

    def run(self, code: str, *, timeout: float = 900.0, marker: str = "") -> CellRecord:
        """Execute ``code``; every IOPub message of it, with the kernel's CPU and peak memory."""
        record = CellRecord()
        self._recorder.marker = marker.encode()
        pid = self.process.pid
        _clear_peak(pid)
        before_rss = _status_kb(pid, "VmRSS")
        times = self.process.cpu_times()
        cpu = times.user + times.system
        content = {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        request = self.client.session.msg("execute_request", content)
        msg_id = request["header"]["msg_id"]
        idle = self._recorder.watch(msg_id, record)  # before sending: busy comes back fast
        record.started = time.time()
        self.client.shell_channel.send(request)
        record.reply = self._reply(msg_id, timeout)
        if not idle.wait(timeout):
            raise TimeoutError(f"no idle after {timeout} s")
        times = self.process.cpu_times()
        record.cpu = times.user + times.system - cpu
        record.peak = max(0, _status_kb(pid, "VmHWM") - before_rss) * 1024
        return record

    def _reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.client.get_shell_msg(timeout=deadline - time.monotonic())
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]
        raise TimeoutError(f"no reply after {timeout} s")

    def check(self, code: str, **kwargs: Any) -> CellRecord:
        """``run``, failing loudly when the cell raised."""
        record = self.run(code, **kwargs)
        if record.reply.get("status") != "ok":
            raise RuntimeError(
                f"cell failed: {record.reply.get('ename')}: {record.reply.get('evalue')}"
            )
        return record

    def close(self) -> None:
        self._recorder.stopping = True
        self._recorder.join(2)
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
        self._context.term()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def _clear_peak(pid: int) -> None:
    """Reset the kernel's peak-RSS mark, so the next read is this cell's peak."""
    with contextlib.suppress(OSError):  # not Linux, or not allowed: then the kernel's life
        Path(f"/proc/{pid}/clear_refs").write_text("5")
