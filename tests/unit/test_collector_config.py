"""The collector's configuration refuses every bad input at start, naming the setting."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.collector.config import (
    DEFAULT_ORGANIZATION_ID,
    load_config,
    parse_config,
)
from shared.ids import cluster_id_for_name
from shared.settings import SettingsError

DOC = Path(__file__).resolve().parents[2] / "docs" / "collector.md"
GOOD_ID = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"


def _config(*clusters: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    return {"defaults": defaults, "clusters": list(clusters)}


def _cluster(**overrides: Any) -> dict[str, Any]:
    return {"name": "prod", "base_url": "http://kubecost.prod:9090", **overrides}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_config({"name": "prod"}), r"clusters\[0\] \(prod\)\.base_url is required"),
        (_config({"base_url": "http://x"}), r"clusters\[0\]\.name is required"),
        (_config(_cluster(id="not-a-uuid")), r"\.id must be a UUID, got 'not-a-uuid'"),
        (_config(_cluster(organization_id="42")), r"\.organization_id must be a UUID"),
        (_config(_cluster(), organization_id="x"), r"defaults\.organization_id must be a UUID"),
        (
            _config(_cluster(id=GOOD_ID), _cluster(name="dev", id=GOOD_ID)),
            r"clusters 'prod' and 'dev' share the id",
        ),
        (_config(_cluster(), _cluster()), r"share the id"),  # same name -> same derived id
        (
            _config(_cluster(), _cluster(id=GOOD_ID)),
            r"two clusters are named 'prod'",
        ),
        (_config(_cluster(base_url="kubecost.prod:9090")), r"base_url must be an http\(s\) URL"),
        (_config(_cluster(base_url="ftp://kubecost")), r"base_url must be an http\(s\) URL"),
        (_config(_cluster(base_url="http://")), r"base_url must be an http\(s\) URL"),
        (_config(_cluster(base_url="http://k:port")), r"base_url has an invalid port"),
        (_config(_cluster(base_url="http://k/?x=1")), r"must not carry a query"),
        (_config(_cluster(base_url=9090)), r"base_url must be a non-empty string"),
        (_config(_cluster(), backfill_days=-1), r"defaults\.backfill_days must be at least 0"),
        (_config(_cluster(), restatement_hours=-6), r"restatement_hours must be at least 0"),
        (_config(_cluster(), chunk_hours=0), r"chunk_hours must be at least 1"),
        (_config(_cluster(), max_attempts=0), r"max_attempts must be at least 1"),
        (_config(_cluster(), request_timeout_seconds=-1), r"request_timeout_seconds must be"),
        (_config(_cluster(), request_timeout_seconds=0), r"must be greater than 0"),
        (_config(_cluster(), poll_interval_seconds=float("inf")), r"must be a finite number"),
        (_config(_cluster(), retry_base_delay_seconds=-0.5), r"retry_base_delay_seconds"),
        (
            _config(_cluster(), retry_base_delay_seconds=5, retry_max_delay_seconds=1),
            r"retry_max_delay_seconds must be at least 5",
        ),
        (_config(_cluster(), backfill_days=True), r"backfill_days must be a whole number"),
        (_config(_cluster(), backfill_days=1.5), r"backfill_days must be a whole number"),
        (_config(_cluster(), chunk_hour=6), r"defaults: unknown setting\(s\) chunk_hour"),
        (_config(_cluster(baseurl="http://x")), r"unknown setting\(s\) baseurl"),
        (_config(_cluster(flavor="prometheus")), r"flavor must be one of kubecost, opencost"),
        (_config(_cluster(allocation_path="model/allocation")), r"must be a path starting"),
        (_config(_cluster(), team_labels="team"), r"team_labels must be a list of label keys"),
        (_config(), r"at least one \[\[clusters\]\] entry is required"),
        ({"clusters": {"name": "x"}}, r"at least one \[\[clusters\]\] entry"),
        ({"defaults": [], "clusters": [_cluster()]}, r"defaults must be a table"),
        ({"cluster": [_cluster()]}, r"unknown setting\(s\) cluster"),
    ],
)
def test_bad_settings_fail_with_a_message_naming_them(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_config(raw)


def test_defaults_and_derived_ids() -> None:
    config = parse_config(_config(_cluster(base_url="https://kubecost.prod/")))
    (cluster,) = config.clusters
    assert cluster.base_url == "https://kubecost.prod"
    assert cluster.organization_id == DEFAULT_ORGANIZATION_ID
    assert cluster.id == cluster_id_for_name(DEFAULT_ORGANIZATION_ID, "prod")
    assert (cluster.allocation_path, cluster.assets_path) == ("/model/allocation", "/model/assets")
    assert (config.backfill_days, config.restatement_hours, config.chunk_hours) == (7, 48, 24)


def test_opencost_flavor_uses_allocation_compute_unless_a_path_is_given() -> None:
    config = parse_config(
        _config(
            _cluster(name="oc", flavor="opencost"),
            _cluster(name="oc-proxied", flavor="opencost", allocation_path="/oc/allocation"),
        )
    )
    plain, proxied = config.clusters
    assert (plain.allocation_path, plain.assets_path) == ("/allocation/compute", "/assets")
    assert (proxied.allocation_path, proxied.assets_path) == ("/oc/allocation", "/assets")


def _write(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "collector.toml"
    path.write_text(text, encoding="utf-8")
    return {"COSTPIPE_COLLECTOR_CONFIG": str(path)}


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    env = _write(tmp_path, "[[clusters]]\nname = prod\n")
    with pytest.raises(SettingsError, match=r"collector\.toml is not valid TOML"):
        load_config(env)


def test_a_bad_setting_in_a_file_names_the_file_and_the_setting(tmp_path: Path) -> None:
    env = _write(
        tmp_path,
        '[defaults]\nbackfill_days = -3\n[[clusters]]\nname = "a"\nbase_url = "http://a"\n',
    )
    with pytest.raises(SettingsError, match=r"collector\.toml: defaults\.backfill_days"):
        load_config(env)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_config({"COSTPIPE_COLLECTOR_CONFIG": str(tmp_path / "absent.toml")})


def test_nothing_configured_says_what_to_set() -> None:
    with pytest.raises(
        SettingsError, match=r"COSTPIPE_COLLECTOR_CONFIG .* or COSTPIPE_KUBECOST_URL"
    ):
        load_config({})


def test_single_cluster_from_the_environment() -> None:
    organization = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
    config = load_config(
        {
            "COSTPIPE_KUBECOST_URL": "http://opencost.monitoring:9003",
            "COSTPIPE_KUBECOST_FLAVOR": "opencost",
            "COSTPIPE_CLUSTER_NAME": "edge",
            "COSTPIPE_ORGANIZATION_ID": str(organization),
            "COSTPIPE_BACKFILL_DAYS": "2",
            "COSTPIPE_REQUEST_TIMEOUT_SECONDS": "2.5",
            "COSTPIPE_KUBECOST_AUTH_HEADER": "Bearer t0ken",
        }
    )
    (cluster,) = config.clusters
    assert cluster.name == "edge"
    assert cluster.id == cluster_id_for_name(organization, "edge")
    assert cluster.allocation_path == "/allocation/compute"
    assert cluster.auth_header == "Bearer t0ken"
    assert config.backfill_days == 2
    assert config.request_timeout_seconds == 2.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COSTPIPE_KUBECOST_URL": "kubecost:9090"}, r"^COSTPIPE_KUBECOST_URL must be an http"),
        ({"COSTPIPE_CLUSTER_ID": "nope"}, r"^COSTPIPE_CLUSTER_ID must be a UUID"),
        ({"COSTPIPE_BACKFILL_DAYS": "-1"}, r"^COSTPIPE_BACKFILL_DAYS must be at least 0"),
        ({"COSTPIPE_CHUNK_HOURS": "six"}, r"^COSTPIPE_CHUNK_HOURS must be a whole number"),
        ({"COSTPIPE_REQUEST_TIMEOUT_SECONDS": "0"}, r"^COSTPIPE_REQUEST_TIMEOUT_SECONDS must be"),
        ({"COSTPIPE_KUBECOST_FLAVOR": "x"}, r"^COSTPIPE_KUBECOST_FLAVOR must be one of"),
    ],
)
def test_environment_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_config({"COSTPIPE_KUBECOST_URL": "http://kubecost:9090", **env})


def test_the_documented_example_is_a_valid_configuration(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "docs/collector.md has no TOML example"
    config = load_config(_write(tmp_path, blocks[0]))
    flavors = {c.flavor for c in config.clusters}
    assert flavors == {"kubecost", "opencost"}
