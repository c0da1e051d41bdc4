"""A TimescaleDB cluster run by the project itself: `initdb` + `pg_ctl` on loopback.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to the `postgres`
system user and every server command runs through `runuser`. The extension must have been
installed first (`deploy/local/install-timescaledb.sh`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from shared.localservices.process import free_port, port_is_free

PG_MAJOR = 15


class LocalServiceError(RuntimeError):
    """A local service could not be installed, initialised or started."""


def _bindir() -> Path:
    configured = os.environ.get("COSTPIPE_PG_BINDIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"))
    for candidate in candidates:
        if (candidate / "initdb").exists():
            return candidate
    raise LocalServiceError(
        f"PostgreSQL {PG_MAJOR} server binaries not found; run deploy/local/install-timescaledb.sh"
    )


def _extension_installed(bindir: Path) -> bool:
    sharedir = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return (Path(sharedir) / "extension" / "timescaledb.control").exists()


class LocalTimescale:
    """One PostgreSQL cluster with TimescaleDB preloaded, listening on 127.0.0.1 only.

    `durable=False` turns fsync off: fine for throwaway test clusters, where a power loss does not
    matter and the speed does.
    """

    def __init__(self, data_dir: Path, port: int | None = None, durable: bool = True) -> None:
        self.base_dir = data_dir.resolve()
        self.data_dir = self.base_dir / "pgdata"
        self.port = port
        self.durable = durable
        self._bindir = _bindir()
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        command = args
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(command, capture_output=True, text=True, check=check)

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.base_dir, user="postgres", group="postgres")
            if self._run(["test", "-w", str(self.base_dir)], check=False).returncode != 0:
                raise LocalServiceError(
                    f"the postgres user cannot reach {self.base_dir}; "
                    "every folder above it must be searchable by others (chmod o+x)"
                )

    def initialise(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if not _extension_installed(self._bindir):
            raise LocalServiceError(
                "TimescaleDB is not installed; run deploy/local/install-timescaledb.sh"
            )
        self._prepare_dirs()
        result = self._run(
            [
                str(self._bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=False,
        )
        if result.returncode != 0:
            raise LocalServiceError(f"initdb failed: {result.stderr.strip()}")

    def is_running(self) -> bool:
        result = self._run(
            [str(self._bindir / "pg_ctl"), "-D", str(self.data_dir), "status"], check=False
        )
        return result.returncode == 0

    def start(self) -> str:
        """Initialise if needed, start, and return the connection URL."""
        self.initialise()
        port_file = self.base_dir / "port"
        if self.port is None and port_file.exists():
            remembered = int(port_file.read_text())
            if port_is_free(remembered) or self.is_running():
                self.port = remembered
        if self.port is None:
            self.port = free_port()
        if self.is_running():
            return self.url
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=''",
            "-c shared_preload_libraries=timescaledb",
            "-c timescaledb.telemetry_level=off",
            "-c max_connections=200",
            "-c timezone=UTC",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c full_page_writes=off", "-c synchronous_commit=off"]
        result = self._run(
            [
                str(self._bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.base_dir / "server.log"),
                "-o",
                " ".join(options),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=False,
        )
        if result.returncode != 0:
            log_tail = ""
            log_path = self.base_dir / "server.log"
            if log_path.exists():
                log_tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-10:])
            raise LocalServiceError(
                f"PostgreSQL did not start: {result.stderr.strip()}\n{log_tail}"
            )
        port_file.write_text(str(self.port))
        return self.url

    def stop(self, mode: str = "fast") -> None:
        if self.data_dir.exists() and self.is_running():
            self._run(
                [str(self._bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
                check=False,
            )

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)
