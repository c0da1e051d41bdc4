"""What can be checked of the Dockerfile and docker-compose.yml without a Docker engine: pinned
base images, a non-root numeric user, the dependency set the builder installs (asked of uv with
the Dockerfile's own flags), the entry point, the build context, and a compose file whose
services, commands and collector configuration the code accepts."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from services.cli import build_parser
from services.collector.config import read_config_file
from tests.deploy.support import ROOT, chart_values, load_yaml

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PINNED_TAG = re.compile(r"^[a-z0-9./_-]+:(?P<version>\d+\.\d+\.\d+)(-[a-z0-9.-]+)?$")


@dataclass
class Stage:
    image: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _dockerfile() -> list[Stage]:
    """The Dockerfile's stages, with continuation lines joined and global ARG defaults
    substituted into FROM lines."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            image, _, name = re.sub(
                r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], args
            ).partition(" AS ")
            stages.append(Stage(image.strip(), name.strip()))
        elif not stages and keyword == "ARG":
            key, _, default = args.partition("=")
            global_args[key] = default
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def _normalized(requirement: str) -> str:
    name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv not found: run the tests through `uv run` (make test) or put uv on PATH"
    return uv


# --- Dockerfile ---------------------------------------------------------------------------------


def test_base_images_are_pinned_and_match_the_project_python() -> None:
    stages = _dockerfile()
    assert [s.name for s in stages] == ["builder", "runtime"]
    minimum = re.search(r">=\s*(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert minimum is not None
    for stage in stages:
        match = PINNED_TAG.match(stage.image)
        assert match, f"base image {stage.image!r} is not pinned to a full version tag"
        major, minor, _ = (int(p) for p in match["version"].split("."))
        assert (major, minor) >= (int(minimum[1]), int(minimum[2]))
    # The environment built in one stage runs in the other: same interpreter path.
    assert stages[0].image == stages[1].image


def test_runtime_runs_costpipe_as_a_numeric_non_root_user() -> None:
    runtime = _dockerfile()[-1]
    users = runtime.all("USER")
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    assert uid.isdigit()
    assert int(uid) > 0
    assert gid.isdigit()
    # The user exists in the image with that id, and the chart runs pods as it.
    (run,) = [r for r in runtime.all("RUN") if "useradd" in r]
    assert f"--uid {uid}" in run
    assert chart_values()["podSecurityContext"]["runAsUser"] == int(uid)
    assert runtime.all("ENTRYPOINT") == ['["costpipe"]']
    exposed = {int(p) for line in runtime.all("EXPOSE") for p in line.split()}
    assert {chart_values()["api"]["port"], chart_values()["metricsPort"]} <= exposed


def test_runtime_stage_holds_only_the_virtual_environment() -> None:
    builder, runtime = _dockerfile()
    (copy,) = runtime.all("COPY")
    match = re.fullmatch(r"--from=(\S+) (\S+) (\S+)", copy)
    assert match is not None, copy
    source_stage, source, target = match.groups()
    assert source_stage == builder.name
    assert source == target
    assert any(f"UV_PROJECT_ENVIRONMENT={source}" in env for env in builder.all("ENV"))
    assert any(f"PATH={source}/bin:" in env for env in runtime.all("ENV"))
    assert not any(re.search(r"\b(pip|uv)\b", r) for r in runtime.all("RUN"))


def _builder_syncs() -> list[list[str]]:
    builder = _dockerfile()[0]
    syncs = [shlex.split(r) for r in builder.all("RUN") if r.startswith("uv sync")]
    assert len(syncs) == 2
    return syncs


def test_builder_installs_the_lock_without_dev_or_local_extra() -> None:
    for argv in _builder_syncs():
        assert "--frozen" in argv
        assert "--no-dev" in argv
        assert not {"--all-extras", "--extra", "--all-groups", "--group", "--dev"} & set(argv)
    assert "--no-editable" in _builder_syncs()[-1]
    # The dependency layer is built from the lock alone, before the source is copied.
    first_copy = _dockerfile()[0].all("COPY")[0].split()
    assert first_copy[:-1] == ["pyproject.toml", "uv.lock", "README.md"]


def test_builder_uv_version_is_the_makefile_one() -> None:
    builder = _dockerfile()[0]
    (arg,) = [a for a in builder.all("ARG") if a.startswith("UV_VERSION=")]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    pinned = re.search(r"^UV_VERSION := (\S+)$", makefile, re.M)
    assert pinned is not None
    assert arg == f"UV_VERSION={pinned[1]}"


def _lock_closure(roots: list[dict[str, Any]], packages: dict[str, dict[str, Any]]) -> set[str]:
    """Every package uv.lock says `roots` pull in (extras followed, markers ignored)."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        dependency = pending.pop()
        package = packages[dependency["name"]]
        for extra in dependency.get("extra", []):
            pending += package.get("optional-dependencies", {}).get(extra, [])
        if dependency["name"] not in seen:
            seen.add(dependency["name"])
            pending += package.get("dependencies", [])
    return seen


def test_image_installs_exactly_the_runtime_closure() -> None:
    """Ask uv what the builder's final `uv sync` installs (same flags), and compare with the
    runtime dependencies' closure read from uv.lock: no dev tool, no `local` extra, nothing
    missing."""
    argv = _builder_syncs()[-1]
    flags = [a for a in argv[2:] if a.startswith("--")]
    result = subprocess.run(
        [
            _uv(),
            "export",
            *flags,
            "--no-hashes",
            "--no-header",
            "--no-annotate",
            "--format",
            "requirements-txt",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    installed = {
        _normalized(line)
        for line in result.stdout.splitlines()
        if line.strip() and not line.startswith(("#", " ", "-", "."))
    }
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    packages = {p["name"]: p for p in lock["package"]}
    project = packages["costpipe"]
    runtime = _lock_closure(project["dependencies"], packages)
    dev_only = _lock_closure(project["dev-dependencies"]["dev"], packages) - runtime
    local_only = _lock_closure(project["optional-dependencies"]["local"], packages) - runtime
    assert {"pytest", "mypy", "ruff"} <= dev_only
    assert "noida-db" in local_only
    assert installed == runtime
    assert installed & (dev_only | local_only) == set()


def test_the_entry_point_is_the_cli() -> None:
    assert PYPROJECT["project"]["scripts"]["costpipe"] == "services.cli:main"
    parser = build_parser()
    for command in ("migrate", "collector", "aggregator", "api", "kubecost-sim"):
        assert parser.parse_args([command]).command == command
    wheel_packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert set(wheel_packages) == {"shared", "services"}


def test_build_context_is_only_what_the_image_installs() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "shared", "services"}
    sources = {
        part.rstrip("/").removeprefix("./")
        for copy in _dockerfile()[0].all("COPY")
        for part in copy.split()[:-1]
    }
    assert sources == allowed
    assert all((ROOT / s).exists() for s in sources)


# --- docker-compose.yml -------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = load_yaml(ROOT / "docker-compose.yml")
    return compose


COSTPIPE_SERVICES = ("migrate", "kubecost-sim", "collector", "aggregator", "api")


def test_compose_runs_the_whole_pipeline() -> None:
    services = _compose()["services"]
    assert set(services) == {"timescaledb", "kafka", *COSTPIPE_SERVICES}
    timescale = PINNED_TAG.match(services["timescaledb"]["image"])
    assert timescale is not None
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert services["timescaledb"]["image"].endswith("-pg15")
    assert PINNED_TAG.match(services["kafka"]["image"])
    assert services["kafka"]["image"].startswith("apache/kafka:")
    parser = build_parser()
    for name in COSTPIPE_SERVICES:
        service = services[name]
        assert service["image"] == "costpipe:dev"
        assert service["build"]["context"] == "."
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "/tmp" in service["tmpfs"]
        command = parser.parse_args(service["command"]).command
        assert command == name


def test_kafka_runs_in_kraft_mode() -> None:
    kafka = _compose()["services"]["kafka"]
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])
    advertised = dict(
        reversed(item.split("://", 1)) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    bootstrap = _compose()["x-environment"]["COSTPIPE_KAFKA_BOOTSTRAP"]
    assert advertised[bootstrap] == "PLAINTEXT"


def test_compose_starts_services_in_order() -> None:
    services = _compose()["services"]
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    for name in ("collector", "aggregator", "api"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    for name in ("collector", "aggregator"):
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["collector"]["depends_on"]["kubecost-sim"]["condition"] == "service_healthy"
    for name in ("timescaledb", "kafka", "kubecost-sim", "collector", "aggregator", "api"):
        assert services[name]["healthcheck"]["test"], name


def test_compose_database_url_matches_the_database() -> None:
    compose = _compose()
    url = urlsplit(compose["x-environment"]["COSTPIPE_DATABASE_URL"])
    database = compose["services"]["timescaledb"]["environment"]
    assert (url.hostname, url.port) == ("timescaledb", 5432)
    assert url.username == database["POSTGRES_USER"]
    assert url.password == database["POSTGRES_PASSWORD"]
    assert url.path == "/" + database["POSTGRES_DB"]
    for name in ("migrate", "collector", "aggregator", "api"):
        env = compose["services"][name]["environment"]
        assert env["COSTPIPE_DATABASE_URL"] == compose["x-environment"]["COSTPIPE_DATABASE_URL"]
    assert compose["services"]["api"]["environment"]["COSTPIPE_API_HOST"] == "0.0.0.0"


def test_compose_collector_polls_the_simulator(tmp_path: Path) -> None:
    compose = _compose()
    collector = compose["services"]["collector"]
    (mount,) = collector["configs"]
    assert collector["environment"]["COSTPIPE_COLLECTOR_CONFIG"] == mount["target"]
    path = tmp_path / "collector.toml"
    path.write_text(compose["configs"][mount["source"]]["content"], encoding="utf-8")
    config = read_config_file(str(path))
    sim = build_parser().parse_args(compose["services"]["kubecost-sim"]["command"])
    assert len(config.clusters) == sim.clusters
    for index, cluster in enumerate(config.clusters):
        assert cluster.base_url == f"http://kubecost-sim:{sim.port}/clusters/{index}"
    health = " ".join(compose["services"]["kubecost-sim"]["healthcheck"]["test"])
    assert f"127.0.0.1:{sim.port}/healthz" in health


@pytest.mark.parametrize("name", ["collector", "aggregator", "api"])
def test_compose_healthchecks_ask_for_readiness(name: str) -> None:
    service = _compose()["services"][name]
    env = service["environment"]
    port = env["COSTPIPE_API_PORT"] if name == "api" else env["COSTPIPE_METRICS_PORT"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
