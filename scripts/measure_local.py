"""Time from running a ``%%luxx`` cell to its first token on IOPub, with the local model.

Cold: a fresh kernel whose first ``%%luxx`` cell must start llama.cpp's server and load the
model. Warm: the next cell, server running. "First token" is the first widget message that
carries answer text (what the page draws), seen by a client outside the kernel.

    python scripts/measure_local.py [runs]
"""

from __future__ import annotations

import statistics
import sys
import time

from jupyter_client.manager import start_new_kernel

CELL = "%%luxx --temperature 0 --seed 1 --max-tokens 30\nIn one sentence, what is a notebook?"


def first_token(kc: object, code: str) -> float:
    """Seconds from the execute request to the first IOPub message carrying answer text."""
    start = time.perf_counter()
    msg_id = kc.execute(code)  # type: ignore[attr-defined]
    seen: float | None = None
    while True:
        msg = kc.get_iopub_msg(timeout=120)  # type: ignore[attr-defined]
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        content = msg["content"]
        if seen is None and msg["msg_type"] == "comm_msg":
            data = content.get("data", {})
            if data.get("method") == "custom":  # stream widgets send only answer increments
                seen = time.perf_counter() - start
        if msg["msg_type"] == "status" and content["execution_state"] == "idle":
            if seen is None:
                raise RuntimeError("the cell finished without streaming any text")
            return seen


def one_run() -> tuple[float, float]:
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kc.execute_interactive("%load_ext luxx_nb", timeout=60)
        cold = first_token(kc, CELL)
        warm = first_token(kc, CELL.replace("--max-tokens 30", "--new --max-tokens 30"))
        return cold, warm
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results = [one_run() for _ in range(runs)]
    colds, warms = [r[0] for r in results], [r[1] for r in results]
    print(f"runs: {runs}")
    print("| server | first token (median) | min | max |")
    print("|---|---|---|---|")
    for name, values in (("cold (first cell)", colds), ("warm (next cell)", warms)):
        print(
            f"| {name} | {statistics.median(values):.2f} s | {min(values):.2f} s "
            f"| {max(values):.2f} s |"
        )


if __name__ == "__main__":
    main()
