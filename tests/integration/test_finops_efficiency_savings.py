"""costs/efficiency and costs/savings over real HTTP, on data the aggregator wrote from events
sent through Kafka.

Every workload below runs the same whole day, every day of the 7 complete days before today
(the savings lookback), with the request and usage averages and direct costs shown (per day):

| cluster | workload | CPU req/use (cores) | RAM req/use | GPU req/use | cpu, ram, gpu, pv cost |
|---|---|---|---|---|---|
| C1 east | ml/trainer | 4 / 1 | 16 / 4 GiB | 1 / 0.05 | 4.00, 2.00, 24.00 (+0.30 idle) |
| C1 east | web/api | 1 / 1.5 | 2 / 1 GiB | - | 2.00, 1.00 |
| C1 east | web/cron | 0 / 0.25 | - | - | 0.50, 0.20 |
| C2 west | batch/old-job | 2 / 0.02 | 4 GiB / 100 MiB | - | 3.00, 1.00, -, 0.50 |
| C2 west | batch/etl | 2 / 0.5 | 1 / 0.75 GiB | - | 1.00, 0.50 |

plus C1's idle pool (0.75 CPU cost a day, no requests), `web/new` on C1 today only (1 core
requested, none used, 10.00) and, in organization B, an abandoned workload A never sees.
Expected figures are worked out here from those numbers, with Decimal.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import msgspec
import psycopg
import pytest

from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from shared.events import AllocationEvent, AllocationKind
from shared.ids import workload_uid
from tests.support.databases import fresh_database, topic_env
from tests.support.finops_errors import assert_bad_input
from tests.support.pipeline import aggregate, allocation, produce
from tests.support.processes import running_api
from tests.support.services import Services

pytestmark = pytest.mark.integration

ORG_A = uuid.UUID("0000000a-0000-4000-8000-0000000000e5")
ORG_B = uuid.UUID("0000000b-0000-4000-8000-0000000000e5")
C1 = uuid.UUID("c1000000-0000-4000-8000-0000000000e1")
C2 = uuid.UUID("c2000000-0000-4000-8000-0000000000e2")
C3 = uuid.UUID("c3000000-0000-4000-8000-0000000000e3")
NAMES = {C1: "east", C2: "west", C3: "elsewhere"}
ORGS = {C1: ORG_A, C2: ORG_A, C3: ORG_B}
DAY = timedelta(days=1)
GIB = 1024**3
D = Decimal
PREFIX = "/api/v1/finops/costs"
MONTH_OVER_LOOKBACK = D(730) / D(168)  # a 730-hour month over the 7-day lookback


@dataclass(frozen=True)
class Work:
    """One workload's daily averages (cores, GiB, GPUs) and daily direct costs (currency)."""

    cluster: uuid.UUID
    namespace: str
    name: str
    cpu: tuple[str, str] = ("0", "0")
    ram: tuple[str, str] = ("0", "0")  # GiB
    gpu: tuple[str, str] = ("0", "0")
    costs: tuple[str, str, str, str] = ("0", "0", "0", "0")  # cpu, ram, gpu, pv
    idle_share: str = "0"
    kind: AllocationKind = AllocationKind.WORKLOAD

    @property
    def uid(self) -> uuid.UUID:
        return workload_uid(self.cluster, self.namespace, "deployment", self.name)

    def event(self, day: date) -> AllocationEvent:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        cpu, ram, gpu, pv = (int(D(c) * 1_000_000) for c in self.costs)
        own = 0 if self.kind.is_idle_pool else cpu + ram + gpu + pv
        workload = self.kind is AllocationKind.WORKLOAD
        event = allocation(
            organization_id=ORGS[self.cluster],
            cluster_id=self.cluster,
            window_start=start,
            window_end=start + DAY,
            name=self.name,
            cost=own,
            idle_share=int(D(self.idle_share) * 1_000_000),
            namespace=self.namespace,
            controller_kind="deployment" if workload else "",
            controller=self.name if workload else "",
            workload_uid=self.uid if workload else None,
            kind=self.kind,
        )
        return msgspec.structs.replace(
            event,
            cluster_name=NAMES[self.cluster],
            total_cost=cpu + ram + gpu + pv,
            cpu_cost=cpu,
            ram_cost=ram,
            gpu_cost=gpu,
            pv_cost=pv,
            minutes=1440.0,
            cpu_core_request_average=float(self.cpu[0]),
            cpu_core_usage_average=float(self.cpu[1]),
            ram_byte_request_average=float(D(self.ram[0]) * GIB),
            ram_byte_usage_average=float(D(self.ram[1]) * GIB),
            gpu_request_average=float(self.gpu[0]),
            gpu_usage_average=float(self.gpu[1]),
        )


TRAINER = Work(
    C1, "ml", "trainer", ("4", "1"), ("16", "4"), ("1", "0.05"), ("4", "2", "24", "0"), "0.30"
)
API = Work(C1, "web", "api", ("1", "1.5"), ("2", "1"), costs=("2", "1", "0", "0"))
CRON = Work(C1, "web", "cron", ("0", "0.25"), costs=("0.50", "0.20", "0", "0"))
OLD_JOB = Work(
    C2, "batch", "old-job", ("2", "0.02"), ("4", str(D(100) / 1024)), costs=("3", "1", "0", "0.5")
)
ETL = Work(C2, "batch", "etl", ("2", "0.5"), ("1", "0.75"), costs=("1", "0.50", "0", "0"))
IDLE = Work(C1, "", "__idle__", costs=("0.75", "0", "0", "0"), kind=AllocationKind.IDLE)
NEW = Work(C1, "web", "new", ("1", "0"), costs=("10", "0", "0", "0"))
FOREIGN = Work(C3, "ml", "trainer", ("4", "0"), costs=("9", "0", "0", "0"))
EVERY_DAY = (TRAINER, API, CRON, OLD_JOB, ETL, IDLE, FOREIGN)


def cents(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_EVEN)


def four(value: Decimal) -> Decimal:
    return value.quantize(D("0.0001"), rounding=ROUND_HALF_EVEN)


def _today() -> date:
    """Today (UTC), waiting out the minutes before midnight so every request sees the same day."""
    now = datetime.now(UTC)
    left = datetime(now.year, now.month, now.day, tzinfo=UTC) + DAY - now
    if left < timedelta(minutes=3):
        time.sleep(left.total_seconds() + 1)
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Api:
    base: str
    keys: dict[str, str]
    today: date

    def raw(self, path: str, key: str | None = "all", **params: str) -> httpx.Response:
        headers = {} if key is None else {"X-API-Key": self.keys.get(key, key)}
        return httpx.get(self.base + PREFIX + path, params=params, headers=headers, timeout=10)

    def get(self, path: str, key: str = "all", **params: str) -> Any:
        """A 200 answer, its JSON numbers read as Decimals: the exact digits the API wrote."""
        answer = self.raw(path, key, **params)
        assert answer.status_code == 200, answer.text
        return json.loads(answer.text, parse_float=Decimal)


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[Api]:
    with fresh_database(services.database_url) as url:
        env = topic_env(services.kafka_bootstrap, url)
        today = _today()
        days = [today - n * DAY for n in range(1, 8)]
        produce(env, [w.event(day) for day in days for w in EVERY_DAY] + [NEW.event(today)])
        aggregate(env)
        with psycopg.connect(url, autocommit=True) as conn:
            keys = {
                "all": create_key(conn, ORG_A, "all", ("finops:read",), clusters=ALL_CLUSTERS)[1],
                "only_c1": create_key(conn, ORG_A, "c1", ("finops:read",), clusters=(C1,))[1],
                "no_finops": create_key(
                    conn,
                    ORG_A,
                    "t",
                    tuple(s for s in ALL_SCOPES if s != "finops:read"),
                    clusters=ALL_CLUSTERS,
                )[1],
                "other_org": create_key(conn, ORG_B, "b", ALL_SCOPES, clusters=ALL_CLUSTERS)[1],
            }
        # A loaded machine can take a while to import the app; the default wait is 30 s.
        with running_api(env, timeout=120) as base:
            yield Api(base, keys, today)


# --- costs/efficiency -----------------------------------------------------------------------


def test_efficiency_per_workload_with_quantities_costs_and_ratios(api: Api) -> None:
    body = api.get("/efficiency", aggregate="workload")
    items = {i["name"]: i for i in body["items"]}
    assert set(items) == {
        "ml/trainer",
        "web/api",
        "web/cron",
        "batch/old-job",
        "batch/etl",
        "web/new",
    }
    trainer = items["ml/trainer"]
    assert trainer["group_key"] == str(TRAINER.uid)
    # 7 days x 24 h: 4 x 168 = 672 core-hours requested, 168 used; 16 GiB x 168 = 2688 GiB-h.
    assert trainer["cpu_core_hours_requested"] == D("672.0000")
    assert trainer["cpu_core_hours_used"] == D("168.0000")
    assert trainer["ram_gib_hours_requested"] == D("2688.0000")
    assert trainer["ram_gib_hours_used"] == D("672.0000")
    assert (trainer["gpu_hours_requested"], trainer["gpu_hours_used"]) == (D("168"), D("8.4"))
    assert (trainer["cpu_efficiency"], trainer["ram_efficiency"]) == (D("0.25"), D("0.25"))
    assert trainer["gpu_efficiency"] == D("0.05")
    assert trainer["efficiency"] == D("0.25")
    assert (trainer["cpu_cost"], trainer["ram_cost"], trainer["gpu_cost"]) == (28, 14, 168)
    assert trainer["total_cost"] == D("212.10")  # 30.30 a day, idle share included
    # Usage above the request is reported as it is: 1.5 / 1; total (1.5 x 2 + 0.5 x 1) / 3.
    assert items["web/api"]["cpu_efficiency"] == D("1.5")
    assert items["web/api"]["efficiency"] == four(D("3.5") / 3)
    # Usage without a request counts as fully efficient; nothing requested nor used is null,
    # and weighs 0 in the total: (1 x 0.50 + 0 x 0.20) / 0.70.
    cron = items["web/cron"]
    assert (cron["cpu_efficiency"], cron["ram_efficiency"]) == (D("1"), None)
    assert cron["gpu_efficiency"] is None
    assert cron["efficiency"] == four(D("0.5") / D("0.7"))
    assert items["web/new"]["cpu_efficiency"] == D("0")
    assert [i["total_cost"] for i in body["items"]] == sorted(
        (i["total_cost"] for i in body["items"]), reverse=True
    )


def test_efficiency_by_namespace_sums_before_dividing(api: Api) -> None:
    body = api.get("/efficiency")
    assert (body["aggregate"], body["window"], body["namespace"]) == ("namespace", "30d", None)
    web = next(i for i in body["items"] if i["name"] == "web")
    # api 1 x 168 + new 1 x 24 requested; api 1.5 x 168 + cron 0.25 x 168 used.
    cpu = (D("1.5") * 168 + D("0.25") * 168) / (168 + 24)
    assert web["cpu_efficiency"] == four(cpu) == D("1.5312")  # 1.53125, half-even
    assert web["ram_efficiency"] == D("0.5")
    cpu_cost, ram_cost = D("2.5") * 7 + 10, D("1.2") * 7
    assert (web["cpu_cost"], web["ram_cost"]) == (cpu_cost, ram_cost)
    assert web["efficiency"] == four((cpu * cpu_cost + D("0.5") * ram_cost) / (cpu_cost + ram_cost))
    # The total spans every namespace; the idle pool (0.75 CPU a day) is nobody's efficiency.
    total = body["total"]
    assert total["cpu_cost"] == (4 + 2 + D("0.5") + 3 + 1) * 7 + 10
    requested = (4 + 1 + 2 + 2) * 168 + 24
    used = (1 + D("1.5") + D("0.25") + D("0.02") + D("0.5")) * 168
    assert total["cpu_core_hours_requested"] == requested
    assert total["cpu_efficiency"] == four(used / requested)


def test_efficiency_namespace_filter_window_and_allow_list(api: Api) -> None:
    web = api.get("/efficiency", namespace="web", aggregate="workload")
    assert {i["name"] for i in web["items"]} == {"web/api", "web/cron", "web/new"}
    assert web["total"]["cpu_core_hours_requested"] == 168 + 24
    today = api.get("/efficiency", window="1d", aggregate="workload")
    assert [i["name"] for i in today["items"]] == ["web/new"]
    assert today["total"]["efficiency"] == D("0")
    east = api.get("/efficiency", key="only_c1", aggregate="cluster")
    assert [(i["group_key"], i["name"]) for i in east["items"]] == [(str(C1), "east")]
    foreign = api.get("/efficiency", key="other_org", aggregate="cluster")
    assert [i["name"] for i in foreign["items"]] == ["elsewhere"]
    assert foreign["total"]["cpu_efficiency"] == D("0")


# --- costs/savings --------------------------------------------------------------------------


def monthly(per_day: Decimal) -> Decimal:
    """A daily amount over the 7 lookback days, as micro-units of a 730-hour month."""
    return (per_day * 7 * MONTH_OVER_LOOKBACK).quantize(D("0.000001"), ROUND_HALF_EVEN)


# Per day: trainer's GPU 24.00; old-job its whole cost 4.50; trainer's CPU 4.00 x (1 - 1 x 1.2 / 4)
# and RAM 2.00 x (1 - 4 x 1.2 / 16); etl's CPU 1.00 x (1 - 0.5 x 1.2 / 2). RAM at 75 % stays.
TRAINER_CPU, TRAINER_RAM = D(4) * (1 - D("0.3")), D(2) * (1 - D("0.3"))
EXPECTED = [
    ("ml/trainer", "idle_gpu", monthly(D(24))),
    ("batch/old-job", "abandoned", monthly(D("4.5"))),
    ("ml/trainer", "rightsizing", monthly(TRAINER_CPU + TRAINER_RAM)),
    ("batch/etl", "rightsizing", monthly(D(1) * (1 - D("0.3")))),
]


def missing(text: str, *parts: str) -> list[str]:
    """The parts a recommendation's text does not state."""
    return [p for p in parts if p not in text]


def summary(body: Any) -> list[tuple[str, str, Decimal]]:
    return [(r["resource"], r["category"], r["potentialSavings"]) for r in body["recommendations"]]


def test_savings_recommendations_sorted_with_monthly_amounts(api: Api) -> None:
    body = api.get("/savings")
    assert summary(body) == [(name, cat, cents(v)) for name, cat, v in EXPECTED]
    assert [cents(v) for _, _, v in EXPECTED] == [D("730"), D("136.88"), D("127.75"), D("21.29")]
    assert (
        body["totalPotentialSavings"]
        == cents(sum((v for _, _, v in EXPECTED), D(0)))
        == D("1015.92")
    )
    start = api.today - 7 * DAY
    assert (body["periodStart"], body["periodEnd"]) == (
        f"{start}T00:00:00Z",
        f"{api.today}T00:00:00Z",
    )
    assert body["lookbackDays"] == 7
    gpu, abandoned, rightsizing, _ = body["recommendations"]
    # The current cost is fully loaded: 30.30 a day -> 921.625 a month, half-even.
    assert gpu["currentCost"] == D("921.62")
    assert (gpu["efficiency"], gpu["clusterName"], gpu["kind"]) == (D("0.05"), "east", "deployment")
    assert gpu["workloadUid"] == str(TRAINER.uid)
    assert missing(gpu["recommendation"], "5%", "730.00") == []
    assert abandoned["efficiency"] == four((D("0.01") * 3 + D(100) / 4096 * 1) / 4)
    assert missing(abandoned["recommendation"], "CPU 1%", "RAM 2.4%", "136.88") == []
    cpu, ram = rightsizing["resources"]
    assert (cpu["resource"], cpu["unit"], cpu["request"], cpu["usage"]) == ("cpu", "cores", 4, 1)
    assert (cpu["recommendedRequest"], cpu["efficiency"]) == (D("1.2"), D("0.25"))
    assert cpu["potentialSavings"] == cents(monthly(TRAINER_CPU)) == D("85.17")
    assert (ram["unit"], ram["request"], ram["recommendedRequest"]) == ("GiB", 16, D("4.8"))
    assert ram["potentialSavings"] == cents(monthly(TRAINER_RAM)) == D("42.58")
    text = rightsizing["recommendation"]
    assert (
        missing(text, "25%", "4.000 cores to 1.200 cores", "16.00 GiB to 4.80 GiB", "127.75") == []
    )


def test_savings_category_and_min_savings_filters(api: Api) -> None:
    gpu = api.get("/savings", category="idle_gpu")
    assert summary(gpu) == [("ml/trainer", "idle_gpu", D("730.00"))]
    assert gpu["totalPotentialSavings"] == D("730.00")
    assert gpu["filters"] == {"category": "idle_gpu", "minSavings": None}
    rightsizing = api.get("/savings", category="RightSizing")
    assert [r["resource"] for r in rightsizing["recommendations"]] == ["ml/trainer", "batch/etl"]
    # minSavings compares with the amount as shown: 136.88 passes a floor of 136.88.
    large = api.get("/savings", minSavings="136.88")
    assert [r["category"] for r in large["recommendations"]] == ["idle_gpu", "abandoned"]
    assert large["totalPotentialSavings"] == cents(monthly(D(24)) + monthly(D("4.5")))
    assert api.get("/savings", minSavings="136.89")["totalPotentialSavings"] == D("730.00")
    both = api.get("/savings", category="abandoned", minSavings="0")
    assert summary(both) == [("batch/old-job", "abandoned", D("136.88"))]


def test_savings_respect_the_organization_and_allow_list(api: Api) -> None:
    east = api.get("/savings", key="only_c1")
    assert {r["clusterName"] for r in east["recommendations"]} == {"east"}
    assert east["totalPotentialSavings"] == cents(EXPECTED[0][2] + EXPECTED[2][2])
    foreign = api.get("/savings", key="other_org")
    assert summary(foreign) == [("ml/trainer", "abandoned", cents(monthly(D(9))))]


@pytest.mark.parametrize("path", ["/efficiency", "/savings"])
def test_both_need_an_x_api_key_with_finops_read(api: Api, path: str) -> None:
    assert api.raw(path, key=None).status_code == 401
    assert api.raw(path, key="no_finops").status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "status", "allowed"),
    [
        ("/efficiency", {"aggregate": "pod"}, 422, ["cluster", "namespace", "workload", "team"]),
        ("/efficiency", {"aggregate": "resource_type"}, 422, ["node_group", "service", "owner"]),
        ("/efficiency", {"window": "7x"}, 422, ["h", "d", "w", "m"]),
        ("/efficiency", {"window": "-7d"}, 400, None),
        ("/efficiency", {"namespace": "x" * 254}, 400, None),
        ("/savings", {"category": "storage"}, 422, ["rightsizing", "abandoned", "idle_gpu"]),
        ("/savings", {"minSavings": "-1"}, 422, None),
        ("/savings", {"minSavings": "ten"}, 400, None),
        ("/savings", {"minSavings": "1e3"}, 400, None),
        ("/savings", {"minSavings": "NaN"}, 400, None),
    ],
)
def test_bad_input_is_400_or_422(
    api: Api, path: str, params: dict[str, str], status: int, allowed: list[str] | None
) -> None:
    assert_bad_input(api.raw(path, **params), status, allowed)
