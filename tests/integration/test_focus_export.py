"""The FOCUS export of a simulated month, through the whole pipeline (simulator -> collector ->
Kafka -> aggregator), written by the CLI and served over HTTP, read back with pyarrow and the csv
module: the rows add up to the month's total to the micro-unit in both cost modes, the mandatory
FOCUS 1.2 columns are there with their FOCUS types, and a key limited to one cluster gets only
that cluster's rows.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.cli import main as cli
from services.kubecost_sim.model import SimConfig
from services.kubecost_sim.server import serve_in_thread
from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from tests.support.collector_harness import collector_config, collector_harness
from tests.support.databases import fresh_database, topic_env
from tests.support.processes import COSTPIPE, environment, running_api
from tests.support.services import Services

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 4, 30, tzinfo=UTC)  # February 2026 is complete
SIM = SimConfig(seed=11, clusters=2, workloads_per_cluster=6, now=NOW)
MONTH = ("2026-02-01", "2026-03-01")
MODES = {"fully_loaded": "cost + idle_share", "workload_only": "cost"}
SIX = Decimal("0.000001")
# FOCUS 1.2 Mandatory columns and their FOCUS data types.
MANDATORY = {
    "BilledCost": "Decimal",
    "BillingAccountId": "String",
    "BillingAccountName": "String",
    "BillingCurrency": "String",
    "BillingPeriodEnd": "Date/Time",
    "BillingPeriodStart": "Date/Time",
    "ChargeCategory": "String",
    "ChargeClass": "String",
    "ChargeDescription": "String",
    "ChargePeriodEnd": "Date/Time",
    "ChargePeriodStart": "Date/Time",
    "ContractedCost": "Decimal",
    "EffectiveCost": "Decimal",
    "InvoiceIssuer": "String",
    "ListCost": "Decimal",
    "PricingQuantity": "Decimal",
    "PricingUnit": "String",
    "Provider": "String",
    "Publisher": "String",
    "ServiceCategory": "String",
    "ServiceName": "String",
}
NOT_NULL = set(MANDATORY) - {
    "BillingAccountName",
    "ChargeClass",
    "ChargeDescription",
    "PricingQuantity",
    "PricingUnit",
}


@dataclass(frozen=True)
class Pipeline:
    database_url: str
    env: dict[str, str]
    base: str
    organization: uuid.UUID
    clusters: tuple[uuid.UUID, ...]
    key: str

    def month_total(self, mode: str, cluster: uuid.UUID | None = None) -> int:
        """Micro-units of the month, from the monthly per-cluster totals (not the export)."""
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                f"SELECT COALESCE(sum({MODES[mode]}), 0)::bigint FROM cost_cluster_monthly"
                " WHERE bucket = '2026-02-01T00:00:00Z'"
                " AND (%(cluster)s::uuid IS NULL OR cluster_id = %(cluster)s)",
                {"cluster": cluster},
            ).fetchone()
        assert row is not None
        return int(row[0])


async def _collect(env: dict[str, str], base_url: str) -> None:
    config = collector_config(
        [{"name": f"focus-{i}", "base_url": f"{base_url}/clusters/{i}"} for i in range(2)],
        backfill_days=29,
        chunk_hours=24,
    )
    async with collector_harness(env) as harness:
        collector = harness.collector(config, NOW)
        await collector.run(once=True)
        await harness.aggregate()
    for cluster in config.clusters:
        assert collector.stats[cluster.id].errors == {}


@pytest.fixture(scope="module")
def pipeline(services: Services) -> Iterator[Pipeline]:
    with fresh_database(services.database_url) as url, serve_in_thread(SIM) as sim:
        env = topic_env(services.kafka_bootstrap, url)
        asyncio.run(_collect(env, sim))
        with psycopg.connect(url, autocommit=True) as conn:
            clusters = tuple(r[0] for r in conn.execute("SELECT id FROM cluster ORDER BY id"))
            (organization,) = conn.execute(
                "SELECT DISTINCT organization_id FROM cluster"
            ).fetchone() or (None,)
            key = create_key(conn, organization, "focus", ALL_SCOPES, clusters=ALL_CLUSTERS)[1]
        assert len(clusters) == 2
        with running_api(env) as base:
            yield Pipeline(url, env, base, organization, clusters, key)


def _export(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    for name, value in pipeline.env.items():
        monkeypatch.setenv(name, value)
    return cli(["export", "focus", *args])


def _micros(text: str | Decimal) -> int:
    value = Decimal(text)
    assert value == value.quantize(SIX), text  # six places at most: micro-units, never rounded
    return int(value * 1_000_000)


@pytest.mark.parametrize("mode", list(MODES))
def test_the_csv_of_a_month_adds_up_to_the_month(
    pipeline: Pipeline, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "month.csv"
    assert _export(
        pipeline, monkeypatch, "--from", MONTH[0], "--to", MONTH[1], "--cost-mode", mode,
        "--format", "csv", "--output", str(output),
    ) == 0  # fmt: skip
    with output.open(newline="") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames is not None
        assert set(MANDATORY) <= set(reader.fieldnames)
        rows = list(reader)
    assert rows
    total = sum(_micros(r["EffectiveCost"]) for r in rows)
    assert total == pipeline.month_total(mode) != 0
    for row in rows:
        assert all(row[name] != "" for name in NOT_NULL), row
        assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"]
        assert row["ChargeCategory"] == "Usage"
        assert row["x_CostMode"] == mode
        assert row["BillingPeriodStart"] == "2026-02-01T00:00:00Z"
        assert row["BillingPeriodEnd"] == "2026-03-01T00:00:00Z"
        start = datetime.fromisoformat(row["ChargePeriodStart"])
        end = datetime.fromisoformat(row["ChargePeriodEnd"])
        assert (end - start).total_seconds() == 86400
        assert row["SubAccountId"] in {str(c) for c in pipeline.clusters}
        assert row["BillingAccountId"] == str(pipeline.organization)
        assert isinstance(json.loads(row["Tags"]), dict)
        own, idle = _micros(row["x_WorkloadCost"]), _micros(row["x_IdleShare"])
        assert _micros(row["EffectiveCost"]) == (own if mode == "workload_only" else own + idle)
    # The idle pool reaches the workloads as their idle share (fully loaded) or not at all
    # (workload only): its own rows carry nothing, so none is exported.
    assert {r["x_AllocationKind"] for r in rows} == {"workload"}
    # One row per day x cluster x namespace x workload x kind.
    keys = [
        (r["ChargePeriodStart"], r["SubAccountId"], r["x_Namespace"], r["ResourceId"]) for r in rows
    ]
    assert len(keys) == len(set(keys))


def test_parquet_has_the_focus_types_and_the_same_rows(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv_file, parquet_file = tmp_path / "m.csv", tmp_path / "m.parquet"
    for fmt, path in (("csv", csv_file), ("parquet", parquet_file)):
        assert _export(
            pipeline, monkeypatch, "--from", MONTH[0], "--to", MONTH[1], "--format", fmt,
            "--output", str(path),
        ) == 0  # fmt: skip
    table = pq.read_table(parquet_file)
    types = {field.name: field.type for field in table.schema}
    for name, focus_type in MANDATORY.items():
        arrow = types[name]
        if focus_type == "Decimal":
            assert pa.types.is_decimal(arrow), (name, arrow)
            assert arrow.scale == 6, (name, arrow)
        elif focus_type == "Date/Time":
            assert pa.types.is_timestamp(arrow), (name, arrow)
            assert arrow.tz == "UTC", (name, arrow)
        else:
            assert pa.types.is_string(arrow), (name, arrow)
    with csv_file.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert table.num_rows == len(rows)
    effective = table.column("EffectiveCost").to_pylist()
    assert all(isinstance(v, Decimal) for v in effective)
    assert sum(effective) == Decimal(pipeline.month_total("fully_loaded")) / 1_000_000
    assert [f"{v:f}" for v in effective] == [r["EffectiveCost"] for r in rows]
    for name in NOT_NULL:
        assert table.column(name).null_count == 0, name


def test_hourly_rows_add_up_to_the_day(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hourly, daily = tmp_path / "h.csv", tmp_path / "d.csv"
    for granularity, path in (("hourly", hourly), ("daily", daily)):
        assert _export(
            pipeline, monkeypatch, "--from", "2026-02-10", "--to", "2026-02-11",
            "--granularity", granularity, "--output", str(path),
        ) == 0  # fmt: skip
    with hourly.open(newline="") as file:
        hours = list(csv.DictReader(file))
    with daily.open(newline="") as file:
        days = list(csv.DictReader(file))
    assert len({r["ChargePeriodStart"] for r in hours}) == 24
    assert sum(_micros(r["EffectiveCost"]) for r in hours) == sum(
        _micros(r["EffectiveCost"]) for r in days
    )


def test_the_cli_refuses_bad_arguments(
    pipeline: Pipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "x.csv"
    cases = [
        (["--from", "2026-03-01", "--to", "2026-02-01"], "'to' must be after 'from'"),
        (["--from", "2026-02-30", "--to", "2026-03-01"], "must be a date"),
        (["--from", "2026-02-01", "--to", "2026-03-01", "--cluster", str(uuid.uuid4())],
         "no such cluster"),
    ]  # fmt: skip
    for args, message in cases:
        assert _export(pipeline, monkeypatch, *args, "--output", str(output)) == 2
        assert message in capsys.readouterr().err
        assert not output.exists()
        assert not list(tmp_path.iterdir())  # no partial file left behind
    with pytest.raises(SystemExit):
        _export(pipeline, monkeypatch, "--from", "2026-02-01", "--to", "2026-03-01",
                "--format", "xlsx", "--output", str(output))  # fmt: skip


def _get(pipeline: Pipeline, key: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{pipeline.base}/api/v1/finops/export/focus",
        params=params,
        headers={"X-API-Key": key},
        timeout=60,
    )


def test_http_export_streams_the_same_rows_and_only_the_keys_clusters(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = _get(pipeline, pipeline.key, **{"from": MONTH[0], "to": MONTH[1]})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    served = list(csv.DictReader(io.StringIO(response.text)))
    written = tmp_path / "cli.csv"
    assert _export(
        pipeline, monkeypatch, "--from", MONTH[0], "--to", MONTH[1], "--output", str(written)
    ) == 0  # fmt: skip
    with written.open(newline="") as file:
        assert served == list(csv.DictReader(file))

    parquet = _get(
        pipeline, pipeline.key, **{"from": MONTH[0], "to": MONTH[1], "format": "parquet"}
    )
    assert parquet.status_code == 200, parquet.text
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == len(served)

    one = pipeline.clusters[0]
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        limited = create_key(conn, pipeline.organization, "one", ALL_SCOPES, clusters=(one,))[1]
    response = _get(pipeline, limited, **{"from": MONTH[0], "to": MONTH[1]})
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows
    assert {r["SubAccountId"] for r in rows} == {str(one)}
    assert sum(_micros(r["EffectiveCost"]) for r in rows) == pipeline.month_total(
        "fully_loaded", one
    )
    other = str(pipeline.clusters[1])
    refused = _get(pipeline, limited, **{"from": MONTH[0], "to": MONTH[1], "cluster": other})
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "CLUSTER_NOT_FOUND"


@pytest.mark.parametrize(
    ("params", "code", "parameter"),
    [
        ({"to": "2026-03-01"}, "VALIDATION_ERROR", "from"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, "VALIDATION_ERROR", "to"),
        ({"from": "yesterday", "to": "2026-03-01"}, "VALIDATION_ERROR", "from"),
        (
            {"from": "2026-02-01", "to": "2026-03-01", "format": "xlsx"},
            "VALIDATION_ERROR",
            "format",
        ),
        (
            {"from": "2026-02-01", "to": "2026-03-01", "granularity": "weekly"},
            "VALIDATION_ERROR",
            "granularity",
        ),
        (
            {"from": "2026-02-01", "to": "2026-03-01", "cost_mode": "cheap"},
            "INVALID_COST_MODE",
            "cost_mode",
        ),
        (
            {"from": "2026-02-01", "to": "2026-03-01", "cluster": "east"},
            "VALIDATION_ERROR",
            "cluster",
        ),
    ],
)
def test_http_bad_input_gets_the_documented_error(
    pipeline: Pipeline, params: dict[str, str], code: str, parameter: str
) -> None:
    response = _get(pipeline, pipeline.key, **params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["parameter"] == parameter


def test_http_needs_a_finops_key(pipeline: Pipeline) -> None:
    response = httpx.get(
        f"{pipeline.base}/api/v1/finops/export/focus",
        params={"from": MONTH[0], "to": MONTH[1]},
        timeout=10,
    )
    assert response.status_code == 401


def test_the_cli_draws_its_progress_on_a_terminal(pipeline: Pipeline, tmp_path: Path) -> None:
    """On a terminal the export redraws one status line (periods done per cluster) and clears
    it before its closing message; the file is the same as anywhere else."""
    output = tmp_path / "month.csv"
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*COSTPIPE, "export", "focus", "--from", MONTH[0], "--to", MONTH[1],
         "--format", "csv", "--output", str(output)],
        env=environment({**pipeline.env, "COLUMNS": "200"}),  # room for both clusters
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    shown = b""
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # the terminal's other end closed: the process is done with it
            break
        if not data:
            break
        shown += data
    os.close(controller)
    assert process.wait(timeout=120) == 0, shown.decode(errors="replace")
    text = shown.decode()
    # 28 days of February for each of the two clusters, drawn in place ("\r" ... erase to the end).
    drawn = re.findall(r"\rfocus export: ([^\r\x1b]*)\x1b\[K", text)
    assert drawn, text
    assert all(
        re.fullmatch(r"(\S+ \d+/28 periods( [\d.]+/s ETA [\d:]+)?( \| )?)+", d) for d in drawn
    )
    assert "\r\x1b[K" in text  # cleared before the closing line
    assert f"wrote {output}" in text.splitlines()[-1]
    assert output.stat().st_size > 0
