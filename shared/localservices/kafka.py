"""A Kafka-protocol broker run by the project itself: `noida-db` from PyPI, on loopback.

It is an emulator; nothing in the pipeline may depend on its quirks, so it is used only where no
real Kafka is configured (`COSTPIPE_KAFKA_BOOTSTRAP`) and no Docker engine answers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from shared.localservices.process import free_port, port_is_free, wait_for_port
from shared.localservices.timescale import LocalServiceError


def _executable() -> str:
    beside_python = Path(sys.executable).parent / "noida-db"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("noida-db")
    if found is None:
        raise LocalServiceError(
            "the noida-db broker is not installed; install the project with its 'local' extra"
        )
    return found


class LocalKafka:
    """One broker process; data under `data_dir` survives a restart."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The launcher's pid while running (the broker binary runs as its child)."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 30.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.data_dir / "costpipe-port"
        if self.port is None and port_file.exists():
            remembered = int(port_file.read_text())
            if port_is_free(remembered):
                self.port = remembered
        if self.port is None:
            self.port = free_port()
        log_file = (self.data_dir / "broker.log").open("ab")
        self._process = subprocess.Popen(
            [
                _executable(),
                "start",
                "--only",
                "kafka",
                "--host",
                "127.0.0.1",
                "--kafka-port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        try:
            wait_for_port(self.port, timeout=timeout)
        except TimeoutError as exc:
            self.stop()
            raise LocalServiceError(f"the Kafka broker did not start: {exc}") from exc
        port_file.write_text(str(self.port))
        return self.bootstrap

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the broker to shut down (SIGTERM) and wait until it has; killed after `timeout`."""
        process, self._process = self._process, None
        if process is not None:
            _end_group(process, signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Stop abruptly, as a crash would."""
        process, self._process = self._process, None
        if process is not None:
            _end_group(process, signal.SIGKILL, timeout=0.0)


def _end_group(launcher: subprocess.Popen[bytes], signum: signal.Signals, timeout: float) -> None:
    """Signal every process of the launcher's group and wait until none is left.

    The `noida-db` command is a Python launcher whose child is the broker, in the launcher's own
    session: signalling the launcher alone can leave the broker running, still holding its port
    and data folder, and taking CPU from whatever runs next.
    """
    group = launcher.pid
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)
    while True:
        launcher.poll()  # reaps the launcher: a zombie would keep the group alive
        try:
            os.killpg(group, signal.SIGKILL if time.monotonic() > deadline else 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    launcher.wait()
