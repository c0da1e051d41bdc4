"""Running `costpipe` commands as real processes, the way operators run them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from shared.localservices.process import free_port

COSTPIPE = [sys.executable, "-m", "services.cli"]


def environment(env: Mapping[str, str]) -> dict[str, str]:
    # Many costpipe processes run side by side in tests: no fixed metrics port unless asked for.
    return {**os.environ, "COSTPIPE_LOG_LEVEL": "INFO", "COSTPIPE_METRICS_PORT": "0", **env}


def run_costpipe(
    args: list[str], env: Mapping[str, str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*COSTPIPE, *args],
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"costpipe {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
        )
    return result


def create_key(env: Mapping[str, str], organization: str, scopes: str, *extra: str) -> str:
    output = run_costpipe(
        ["keys", "create", "--organization", organization, "--scopes", scopes, *extra], env
    ).stdout
    for line in output.splitlines():
        if line.startswith("secret (shown once): "):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(f"no secret in output: {output}")


def start_costpipe(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`costpipe <args>` in the background, its output appended to `log`; the caller stops it."""
    with log.open("ab") as log_file:
        return subprocess.Popen(
            [*COSTPIPE, *args],
            env=environment(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def running_api(
    env: Mapping[str, str], timeout: float = 60.0, log: Path | None = None
) -> Iterator[str]:
    """The API on a free port until the block ends. Its log goes to a file (`log`, or a
    temporary one): a pipe nobody reads would stall the server once its buffer fills."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "api.log"
        process = start_costpipe(["api"], {**env, "COSTPIPE_API_PORT": str(port)}, log)
        yield from _serve(process, f"http://127.0.0.1:{port}", timeout, log)


def _serve(process: subprocess.Popen[bytes], base: str, timeout: float, log: Path) -> Iterator[str]:
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"API exited early: {log.read_text(errors='replace')}")
            try:
                if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("API did not come up")
            time.sleep(0.2)
        yield base
    finally:
        stop_process(process)
        if process.stderr:
            process.stderr.close()


def stop_process(
    process: subprocess.Popen[bytes], signum: int = signal.SIGTERM, timeout: float = 15.0
) -> None:
    """Ask a process to end (`signum`, as an operator would) and wait; SIGKILL after `timeout`."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def metric_value(port: int, name: str) -> float | None:
    """One unlabelled series from a process's /metrics, as Prometheus would scrape it; None
    while the endpoint does not answer or does not have it yet."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None
