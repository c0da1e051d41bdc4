"""The FinOps API over real HTTP, on data the aggregator wrote from events sent through Kafka.

The dataset is anchored on today (UTC), because most endpoints count windows back from now.
Day i (i = 0..9) is `T - (9 - i)` days, so day 9 is today. Every event covers one whole day.

Organization A, cluster C1 ("east"):
- `ml/llm-server` (service llm, team research, owner alice): cpu 1.00, ram 0.50, gpu (i + 1),
  idle share 0.50 -> fully loaded i + 3.00 a day;
- `web/web` (service web-frontend, team product, owner bob): cpu 2.00, ram 1.00, storage 0.50,
  network 0.25, load balancer 0.25, idle share 0.25 -> 4.25 a day;
- the idle pool: cpu 0.75 a day, already shared out above, so it adds nothing to any total;
- `web/web` also costs 50.00 on the first day of month M-3 and 100.00 on the first of M-2.
Organization A, cluster C2 ("west"):
- `batch/etl` (service etl, team research, owner carol): cpu 10 - i;
- on day 9 only, `batch/tiny-a` 0.125 and `batch/tiny-b` 0.135 (service etl-helper, team ops,
  owner dave): cents round half-even to 0.12 and 0.14.
Organization B, cluster C3: 7.00 a day with the same labels as llm-server, never visible to A.

So organization A spends 17.25 every day, plus 0.26 today. Values that depend on where today
falls in its month are summed from `Data.ledger` below, in the test, never by the code under test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import psycopg
import pytest

from shared.apikeys import ALL_CLUSTERS, ALL_SCOPES, create_key
from shared.events import ALLOCATION_SCHEMA_VERSION, AllocationEvent, AllocationKind
from shared.ids import allocation_event_id, workload_uid
from tests.support.api_keys import empty_allow_list_key
from tests.support.databases import fresh_database, topic_env
from tests.support.finops_errors import assert_bad_input
from tests.support.pipeline import aggregate, produce
from tests.support.processes import running_api
from tests.support.services import Services

pytestmark = pytest.mark.integration

ORG_A = uuid.UUID("0000000a-0000-4000-8000-0000000000f1")
ORG_B = uuid.UUID("0000000b-0000-4000-8000-0000000000f1")
C1 = uuid.UUID("c1000000-0000-4000-8000-0000000000f1")
C2 = uuid.UUID("c2000000-0000-4000-8000-0000000000f2")
C3 = uuid.UUID("c3000000-0000-4000-8000-0000000000f3")
NAMES = {C1: "east", C2: "west", C3: "elsewhere"}
ORGS = {C1: ORG_A, C2: ORG_A, C3: ORG_B}
DAY = timedelta(days=1)
PREFIX = "/api/v1/finops"


@dataclass(frozen=True)
class Line:
    """One day of one allocation; amounts in micro-units."""

    day: date
    cluster: uuid.UUID
    name: str
    namespace: str = ""
    controller: str = ""
    service: str = ""
    team: str = ""
    owner: str = ""
    kind: AllocationKind = AllocationKind.WORKLOAD
    parts: dict[str, int] = field(default_factory=dict)
    idle_share: int = 0

    @property
    def uid(self) -> uuid.UUID | None:
        if self.kind is not AllocationKind.WORKLOAD:
            return None
        return workload_uid(self.cluster, self.namespace, "deployment", self.controller)

    def loaded(self) -> int:
        own = 0 if self.kind.is_idle_pool else sum(self.parts.values())
        return own + self.idle_share

    def event(self) -> AllocationEvent:
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        total = sum(self.parts.values())
        return AllocationEvent(
            schema_version=ALLOCATION_SCHEMA_VERSION,
            event_id=allocation_event_id(self.cluster, start, self.name),
            organization_id=ORGS[self.cluster],
            cluster_id=self.cluster,
            cluster_name=NAMES[self.cluster],
            window_start=start,
            window_end=start + DAY,
            name=self.name,
            kind=self.kind,
            namespace=self.namespace,
            controller_kind="deployment" if self.controller else "",
            controller=self.controller,
            workload_uid=self.uid,
            service=self.service,
            team=self.team,
            owner=self.owner,
            total_cost=total,
            cost=0 if self.kind.is_idle_pool else total,
            idle_share=self.idle_share,
            produced_at=datetime.now(UTC),
            **self.parts,
        )


M = 1_000_000
LLM = {"namespace": "ml", "controller": "llm-server", "service": "llm"}
LLM_LABELS = {**LLM, "team": "research", "owner": "alice"}
WEB = {
    "namespace": "web",
    "controller": "web",
    "service": "web-frontend",
    "team": "product",
    "owner": "bob",
}
ETL = {
    "namespace": "batch",
    "controller": "etl",
    "service": "etl",
    "team": "research",
    "owner": "carol",
}
TINY = {"namespace": "batch", "service": "etl-helper", "team": "ops", "owner": "dave"}
WEB_PARTS = {
    "cpu_cost": 2 * M,
    "ram_cost": M,
    "pv_cost": M // 2,
    "network_cost": M // 4,
    "load_balancer_cost": M // 4,
}


LLM_UID = workload_uid(C1, "ml", "deployment", "llm-server")
WEB_UID = workload_uid(C1, "web", "deployment", "web")
ETL_UID = workload_uid(C2, "batch", "deployment", "etl")


def cents(micros: int) -> Decimal:
    return (Decimal(micros) / M).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def iso(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _today() -> date:
    """Today in UTC, after waiting out the last minutes before midnight: every request of the
    module must see the same day."""
    now = datetime.now(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + DAY
    if midnight - now < timedelta(minutes=3):
        time.sleep((midnight - now).total_seconds() + 1)
    return datetime.now(UTC).date()


def first_of_month(today: date, offset: int) -> date:
    """The first day of the month `offset` months from today's."""
    index = today.year * 12 + today.month - 1 + offset
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Data:
    """The ledger the events are made from, and sums over it for date-dependent expectations."""

    today: date
    days: list[date]
    ledger: list[Line]

    @classmethod
    def build(cls, today: date) -> Data:
        days = [today - (9 - i) * DAY for i in range(10)]
        lines = []
        for i, day in enumerate(days):
            llm_parts = {"cpu_cost": M, "ram_cost": M // 2, "gpu_cost": (i + 1) * M}
            lines += [
                Line(day, C1, "llm-server-1", **LLM_LABELS, parts=llm_parts, idle_share=M // 2),
                Line(day, C1, "web-1", **WEB, parts=WEB_PARTS, idle_share=M // 4),
                Line(day, C1, "__idle__", kind=AllocationKind.IDLE, parts={"cpu_cost": 3 * M // 4}),
                Line(day, C2, "etl-1", **ETL, parts={"cpu_cost": (10 - i) * M}),
                Line(day, C3, "other-1", **LLM_LABELS, parts={"cpu_cost": 7 * M}),
            ]
        lines += [
            Line(today, C2, "tiny-a", controller="tiny-a", **TINY, parts={"cpu_cost": 125_000}),
            Line(today, C2, "tiny-b", controller="tiny-b", **TINY, parts={"cpu_cost": 135_000}),
            Line(first_of_month(today, -3), C1, "web-1", **WEB, parts={"cpu_cost": 50 * M}),
            Line(first_of_month(today, -2), C1, "web-1", **WEB, parts={"cpu_cost": 100 * M}),
        ]
        return cls(today, days, lines)

    def month(self, offset: int) -> date:
        return first_of_month(self.today, offset)

    def spend(self, first: date, last: date, clusters: tuple[uuid.UUID, ...] = (C1, C2)) -> int:
        """Fully loaded micro-units of the ledger lines dated first..last (inclusive)."""
        return sum(
            line.loaded()
            for line in self.ledger
            if first <= line.day <= last and line.cluster in clusters
        )

    def months(self, first: date, last: date) -> dict[str, Decimal]:
        """Months first..last from the first one holding data, zero-filled."""
        months, cursor = [], first
        while cursor <= last:
            months.append(cursor)
            cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        totals = {m: self.spend(m, (m + 31 * DAY).replace(day=1) - DAY) for m in months}
        while months and totals[months[0]] == 0:
            months.pop(0)
        return {iso(m): cents(totals[m]) for m in months}


@dataclass(frozen=True)
class Api:
    base: str
    keys: dict[str, str]
    data: Data

    def raw(
        self, path: str, key: str | None = "all", bearer: bool = False, **params: object
    ) -> httpx.Response:
        headers = {}
        if key is not None:
            secret = self.keys.get(key, key)
            headers = {"Authorization": f"Bearer {secret}"} if bearer else {"X-API-Key": secret}
        return httpx.get(self.base + PREFIX + path, params=params, headers=headers, timeout=10)

    def get(self, path: str, key: str = "all", **params: object) -> Any:
        """The 200 body with every JSON number as the Decimal its text spells."""
        response = self.raw(path, key, **params)
        assert response.status_code == 200, response.text
        return json.loads(response.text, parse_float=Decimal)


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[Api]:
    with fresh_database(services.database_url) as url:
        env = topic_env(services.kafka_bootstrap, url)
        data = Data.build(_today())
        produce(env, [line.event() for line in data.ledger])
        aggregate(env)
        no_finops = tuple(s for s in ALL_SCOPES if s != "finops:read")
        with psycopg.connect(url, autocommit=True) as conn:
            keys = {
                "all": create_key(conn, ORG_A, "all", ("finops:read",), clusters=ALL_CLUSTERS)[1],
                "only_c1": create_key(conn, ORG_A, "c1", ("finops:read",), clusters=(C1,))[1],
                "no_clusters": empty_allow_list_key(conn, ORG_A, "none", ("finops:read",)),
                "no_finops": create_key(conn, ORG_A, "trend", no_finops, clusters=ALL_CLUSTERS)[1],
                "other_org": create_key(conn, ORG_B, "b", ALL_SCOPES, clusters=ALL_CLUSTERS)[1],
            }
        with running_api(env) as base:
            yield Api(base, keys, data)


def points(body: list[dict[str, Any]]) -> dict[str, Decimal]:
    return {p["date"]: p["total"] for p in body}


# --- costs/daily ----------------------------------------------------------------------------


def test_daily_lists_each_day_with_total_average_and_trend(api: Api) -> None:
    d = api.data
    body = api.get("/costs/daily", startDate=d.days[0].isoformat(), endDate=d.today.isoformat())
    expected = {iso(day): Decimal("17.25") for day in d.days}
    expected[iso(d.today)] = Decimal("17.51")
    assert points(body["days"]) == expected
    assert body["summary"]["total_period"] == Decimal("172.76")
    assert body["summary"]["daily_average"] == Decimal("17.28")  # 17.276, half-even
    assert body["summary"]["trend"] == "stable"  # +0.26 on one day of ten: +0.09 %/day
    # The default range is the last 30 days; it starts at the first day with data.
    assert api.get("/costs/daily") == body


def test_daily_trend_follows_the_least_squares_rule(api: Api) -> None:
    d = api.data
    dates = {"startDate": d.days[0].isoformat(), "endDate": f"{d.today.isoformat()}T12:30:00+00:00"}
    gpu = api.get("/costs/daily", resourceType="gpu", **dates)
    assert [p["total"] for p in gpu["days"]] == [
        Decimal(i + 1).quantize(Decimal("0.01")) for i in range(10)
    ]
    assert gpu["summary"]["trend"] == "increasing"  # slope 1/day over a mean of 5.5
    cpu = api.get("/costs/daily", resourceType="cpu", **dates)
    # 1 (llm) + 2 (web) + (10 - i) (etl); the idle pool's own 0.75 cpu is not counted again
    assert cpu["days"][0]["total"] == Decimal("13.00")
    assert cpu["days"][-1]["total"] == Decimal("4.26")
    assert cpu["summary"]["trend"] == "decreasing"
    ram = api.get("/costs/daily", resourceType="RAM", **dates)
    assert {p["total"] for p in ram["days"]} == {Decimal("1.50")}
    assert ram["summary"]["trend"] == "stable"
    # Without C2 the days are i + 7.25: slope 1 over a mean of 11.75, 8.5 %/day.
    east = api.get("/costs/daily", key="only_c1", **dates)
    assert east["days"][0]["total"] == Decimal("7.25")
    assert east["summary"]["trend"] == "increasing"


def test_daily_range_edges_are_whole_days(api: Api) -> None:
    d = api.data
    # A date-time end is rounded up to midnight: 00:00 of day 9 excludes day 9.
    body = api.get(
        "/costs/daily", startDate=f"{d.days[7].isoformat()}T23:59:59", endDate=iso(d.today)
    )
    assert list(points(body["days"])) == [iso(d.days[7]), iso(d.days[8])]
    assert body["summary"]["total_period"] == Decimal("34.50")


# --- costs/monthly --------------------------------------------------------------------------


def test_monthly_lists_months_from_the_first_with_data(api: Api) -> None:
    d = api.data
    body = api.get("/costs/monthly")
    expected = d.months(d.month(-11), d.month(0))
    assert next(iter(expected)) == iso(d.month(-3))
    assert points(body["months"]) == expected
    summary = body["summary"]
    total = sum(expected.values())
    assert summary["average_monthly"] == (total / len(expected)).quantize(Decimal("0.01"))
    highest = max(expected.values())
    assert summary["highest_month"]["total"] == highest
    assert summary["lowest_month"]["total"] == min(expected.values())
    two = api.get("/costs/monthly", months="2")
    assert points(two["months"]) == d.months(d.month(-1), d.month(0))


def test_monthly_by_year(api: Api) -> None:
    d = api.data
    this_year = api.get("/costs/monthly", year=str(d.today.year))
    expected = d.months(max(d.month(-11), date(d.today.year, 1, 1)), d.month(0))
    assert points(this_year["months"]) == expected
    empty = api.get("/costs/monthly", year=str(d.today.year - 10))
    assert empty == {
        "months": [],
        "summary": {
            "average_monthly": Decimal("0.00"),
            "highest_month": None,
            "lowest_month": None,
        },
    }


# --- costs/services -------------------------------------------------------------------------


def test_services_split_each_service_by_resource(api: Api) -> None:
    d = api.data
    body = api.get("/costs/services")
    assert body["total_cost"] == Decimal("172.76")
    assert body["period_end"] == iso(d.today + DAY)
    assert body["period_start"] == iso(d.today - 29 * DAY)
    zero = Decimal("0.00")
    assert body["items"] == [
        {
            "group_key": "llm",
            "name": "LLM",
            "total_cost": Decimal("75.00"),
            "cpu_cost": Decimal("10.00"),
            "ram_cost": Decimal("5.00"),
            "storage_cost": zero,
            "network_cost": zero,
            "gpu_cost": Decimal("55.00"),
            "other_cost": zero,
            "idle_cost": Decimal("5.00"),
        },
        {
            "group_key": "etl",
            "name": "ETL",
            "total_cost": Decimal("55.00"),
            "cpu_cost": Decimal("55.00"),
            "ram_cost": zero,
            "storage_cost": zero,
            "network_cost": zero,
            "gpu_cost": zero,
            "other_cost": zero,
            "idle_cost": zero,
        },
        {
            "group_key": "web-frontend",
            "name": "Web Frontend",
            "total_cost": Decimal("42.50"),
            "cpu_cost": Decimal("20.00"),
            "ram_cost": Decimal("10.00"),
            "storage_cost": Decimal("5.00"),
            "network_cost": Decimal("2.50"),
            "gpu_cost": zero,
            "other_cost": Decimal("2.50"),  # the load balancer
            "idle_cost": Decimal("2.50"),
        },
        {
            "group_key": "etl-helper",
            "name": "ETL Helper",
            "total_cost": Decimal("0.26"),
            "cpu_cost": Decimal("0.26"),
            "ram_cost": zero,
            "storage_cost": zero,
            "network_cost": zero,
            "gpu_cost": zero,
            "other_cost": zero,
            "idle_cost": zero,
        },
    ]


def test_services_period_words_and_dates(api: Api) -> None:
    d = api.data
    today = api.get("/costs/services", period="daily")
    assert today["total_cost"] == Decimal("17.51")
    assert today["period_start"] == iso(d.today)
    month = api.get("/costs/services", period="monthly")
    assert month["total_cost"] == cents(d.spend(d.month(0), d.today))
    assert month["period_start"] == iso(d.month(0))
    ranged = api.get(
        "/costs/services", startDate=d.days[8].isoformat(), endDate=d.days[8].isoformat()
    )
    assert ranged["total_cost"] == Decimal("17.25")
    assert (ranged["period_start"], ranged["period_end"]) == (iso(d.days[8]), iso(d.today))
    assert [i["group_key"] for i in ranged["items"]] == ["llm", "web-frontend", "etl"]


# --- costs/historical -----------------------------------------------------------------------


def test_historical_groups_by_team_and_filters_org_and_user(api: Api) -> None:
    d = api.data
    dates = {"startDate": d.days[0].isoformat(), "endDate": d.today.isoformat()}
    body = api.get("/costs/historical", groupBy="team", **dates)
    assert body["total_cost"] == Decimal("172.76")
    assert body["group_by"] == "team"
    assert body["granularity"] == "daily"
    totals = {g["group_key"]: g["total_cost"] for g in body["groups"]}
    assert totals == {
        "research": Decimal("130.00"),
        "product": Decimal("42.50"),
        "ops": Decimal("0.26"),
    }
    research = next(g for g in body["groups"] if g["group_key"] == "research")
    assert set(points(research["points"]).values()) == {Decimal("13.00")}
    org = api.get("/costs/historical", orgId="research", **dates)
    assert org["filters"] == {"orgId": "research", "userId": None, "resourceType": None}
    assert org["total_cost"] == Decimal("130.00")
    assert org["groups"] == []
    user = api.get("/costs/historical", userId="alice", **dates)
    assert [p["total"] for p in user["points"]][:2] == [Decimal("3.00"), Decimal("4.00")]
    assert user["total_cost"] == Decimal("75.00")  # organization B's alice is not ours
    both = api.get("/costs/historical", orgId="research", userId="carol", **dates)
    assert both["total_cost"] == Decimal("55.00")
    # A filter nobody matches still lists the days the organization has data for, as zeros.
    nobody = api.get("/costs/historical", orgId="nobody", **dates)
    assert len(nobody["points"]) == 10
    assert nobody["total_cost"] == Decimal("0.00")
    owners = api.get("/costs/historical", groupBy="user", **dates)
    assert [g["group_key"] for g in owners["groups"]] == ["alice", "carol", "bob", "dave"]


# --- costs/breakdown ------------------------------------------------------------------------


def test_breakdown_by_cluster_with_resource_split(api: Api) -> None:
    d = api.data
    body = api.get("/costs/breakdown", window="7d", groupBy="cluster")
    assert body["total_cost"] == Decimal("121.01")
    assert body["period_start"] == iso(d.days[3])
    east, west = body["items"]
    assert (east["group_key"], east["name"], east["total_cost"]) == (
        str(C1),
        "east",
        Decimal("92.75"),
    )
    assert (east["share_percent"], west["share_percent"]) == (Decimal("76.65"), Decimal("23.35"))
    assert east["resources"] == {
        "cpu": Decimal("21.00"),
        "ram": Decimal("10.50"),
        "gpu": Decimal("49.00"),
        "storage": Decimal("3.50"),
        "network": Decimal("1.75"),
        "load_balancer": Decimal("1.75"),
        "shared": Decimal("0.00"),
        "external": Decimal("0.00"),
        "idle": Decimal("5.25"),
        "other": Decimal("0.00"),
    }
    assert west["total_cost"] == Decimal("28.26")


def test_breakdown_by_resource_type_adds_up_to_the_total(api: Api) -> None:
    body = api.get("/costs/breakdown", window="7d", groupBy="resource_type")
    assert {i["group_key"]: i["total_cost"] for i in body["items"]} == {
        "cpu": Decimal("49.26"),
        "gpu": Decimal("49.00"),
        "ram": Decimal("10.50"),
        "idle": Decimal("5.25"),
        "storage": Decimal("3.50"),
        "load_balancer": Decimal("1.75"),
        "network": Decimal("1.75"),
    }
    assert body["total_cost"] == Decimal("121.01")


def test_breakdown_resource_type_filter(api: Api) -> None:
    body = api.get("/costs/breakdown", window="7d", resourceType="gpu")
    assert body["group_by"] == "namespace"
    assert body["filters"]["resourceType"] == "gpu"
    assert body["items"] == [
        {
            "group_key": "ml",
            "name": "ml",
            "total_cost": Decimal("49.00"),
            "share_percent": Decimal("100.00"),
            "resources": {"gpu": Decimal("49.00")},
        }
    ]
    assert body["total_cost"] == Decimal("49.00")


def test_breakdown_org_and_user_filters_by_workload(api: Api) -> None:
    research = api.get("/costs/breakdown", window="7d", orgId="research", groupBy="workload")
    assert [(i["group_key"], i["name"], i["total_cost"]) for i in research["items"]] == [
        (str(LLM_UID), "ml/llm-server", Decimal("63.00")),
        (str(ETL_UID), "batch/etl", Decimal("28.00")),
    ]
    alice = api.get("/costs/breakdown", window="7d", userId="alice", groupBy="org")
    assert alice["group_by"] == "team"
    assert [(i["group_key"], i["total_cost"]) for i in alice["items"]] == [
        ("research", Decimal("63.00"))
    ]


def test_breakdown_money_is_exact_half_even_json_numbers(api: Api) -> None:
    response = api.raw("/costs/breakdown", window="1d", groupBy="workload")
    assert response.status_code == 200
    assert '"total_cost":17.51,' in response.text
    assert '"total_cost":0.14,' in response.text  # 0.135 -> 0.14
    assert '"total_cost":0.12,' in response.text  # 0.125 -> 0.12
    body = json.loads(response.text, parse_float=Decimal)
    assert [str(i["total_cost"]) for i in body["items"]] == [
        "12.00",
        "4.25",
        "1.00",
        "0.14",
        "0.12",
    ]


def test_allow_list_and_organization_bound_every_total(api: Api) -> None:
    east = api.get("/costs/breakdown", key="only_c1", window="7d", groupBy="cluster")
    assert [i["group_key"] for i in east["items"]] == [str(C1)]
    assert east["total_cost"] == Decimal("92.75")
    other = api.get("/costs/breakdown", key="other_org", window="7d", groupBy="cluster")
    assert [(i["group_key"], i["total_cost"]) for i in other["items"]] == [
        (str(C3), Decimal("49.00"))
    ]
    nothing = api.get("/costs/breakdown", key="no_clusters", window="7d")
    assert (nothing["items"], nothing["total_cost"]) == ([], Decimal("0.00"))
    assert api.get("/costs/daily", key="no_clusters")["days"] == []
    stats = api.get("/dashboard/stats", key="only_c1", period="7d")
    assert stats["total_cost"] == Decimal("92.75")
    assert stats["cluster_count"] == 1


# --- costs/trends ---------------------------------------------------------------------------


def test_trends_points_carry_change_from_the_point_before(api: Api) -> None:
    d = api.data
    body = api.get("/costs/trends", window="7d", groupBy="cluster")
    assert body["granularity"] == "daily"
    assert body["total_cost"] == Decimal("121.01")
    assert len(body["points"]) == 7
    first, second = body["points"][:2]
    assert first == {
        "date": iso(d.days[3]),
        "total": Decimal("17.25"),
        "change": None,
        "change_percent": None,
    }
    assert (second["change"], second["change_percent"]) == (Decimal("0.00"), Decimal("0.00"))
    last = body["points"][-1]
    assert (last["change"], last["change_percent"]) == (Decimal("0.26"), Decimal("1.51"))
    east = next(g for g in body["groups"] if g["group_key"] == str(C1))
    assert [p["total"] for p in east["points"][:2]] == [Decimal("10.25"), Decimal("11.25")]
    assert east["points"][1]["change_percent"] == Decimal("9.76")  # 1.00 / 10.25
    west = next(g for g in body["groups"] if g["group_key"] == str(C2))
    assert west["points"][-1]["total"] == Decimal("1.26")


def test_trends_hourly_by_default_for_hour_windows(api: Api) -> None:
    d = api.data
    before = datetime.now(UTC).hour + 1
    body = api.get("/costs/trends", window="24h")
    hours = len(body["points"])
    assert body["granularity"] == "hourly"
    assert hours in {before, datetime.now(UTC).hour + 1}  # from midnight to the current hour
    assert body["points"][0]["date"] == iso(d.today)
    assert body["points"][0]["total"] == Decimal("17.51")
    if hours > 1:
        assert body["points"][1]["change"] == Decimal("-17.51")
        assert body["points"][1]["change_percent"] == Decimal("-100.00")


def test_trends_monthly_and_weekly_buckets(api: Api) -> None:
    d = api.data
    monthly = api.get("/costs/trends", window="3m")
    assert monthly["granularity"] == "monthly"
    assert points(monthly["points"]) == d.months(d.month(-2), d.month(0))
    weekly = api.get("/costs/trends", window="7d", granularity="weekly")
    monday = d.days[3] - d.days[3].weekday() * DAY
    expected = {}
    while monday <= d.today:
        first = max(monday, d.days[3])
        expected[iso(monday)] = cents(d.spend(first, min(monday + 6 * DAY, d.today)))
        monday += 7 * DAY
    assert points(weekly["points"]) == expected
    resources = api.get("/costs/trends", window="1w", groupBy="resource_type")
    assert resources["granularity"] == "weekly"
    week = d.today - d.today.weekday() * DAY
    assert resources["total_cost"] == cents(d.spend(week, d.today))
    assert sum(g["total_cost"] for g in resources["groups"]) == resources["total_cost"]
    assert {g["group_key"] for g in resources["groups"]} <= {
        "cpu",
        "ram",
        "gpu",
        "storage",
        "network",
        "load_balancer",
        "idle",
    }


# --- costs/top-drivers and the dashboard ----------------------------------------------------


def test_top_drivers_compare_with_the_previous_window(api: Api) -> None:
    d = api.data
    body = api.get("/costs/top-drivers", window="7d", limit="3")
    assert (body["compare_window"], body["compare_start"], body["compare_end"]) == (
        "7d",
        iso(d.days[3] - 7 * DAY),
        iso(d.days[3]),
    )
    assert body["total_cost"] == Decimal("121.01")
    assert body["previous_total_cost"] == cents(d.spend(d.days[3] - 7 * DAY, d.days[2]))
    rows = [
        (
            d["rank"],
            d["group_key"],
            d["name"],
            d["cluster_name"],
            d["total_cost"],
            d["previous_cost"],
            d["change"],
            d["change_percent"],
            d["share_percent"],
        )
        for d in body["drivers"]
    ]
    assert rows == [
        (
            1,
            str(LLM_UID),
            "ml/llm-server",
            "east",
            *map(Decimal, ("63.00", "12.00", "51.00", "425.00", "52.06")),
        ),
        (
            2,
            str(WEB_UID),
            "web/web",
            "east",
            *map(Decimal, ("29.75", "12.75", "17.00", "133.33", "24.58")),
        ),
        (
            3,
            str(ETL_UID),
            "batch/etl",
            "west",
            *map(Decimal, ("28.00", "27.00", "1.00", "3.70", "23.14")),
        ),
    ]
    assert body["drivers"][0]["kind"] == "deployment"
    short = api.get("/costs/top-drivers", window="7d", limit="3", compareWindow="2d")
    assert short["compare_start"] == iso(d.days[1])
    changes = {d["name"]: d["change_percent"] for d in short["drivers"]}
    assert changes == {
        "ml/llm-server": Decimal("600.00"),  # 63 vs 4 + 5
        "web/web": Decimal("250.00"),  # 29.75 vs 8.50
        "batch/etl": Decimal("64.71"),  # 28 vs 17
    }


def test_dashboard_stats(api: Api) -> None:
    d = api.data
    hours_before = datetime.now(UTC).hour + 1
    body = api.get("/dashboard/stats", period="7d")
    hours_after = datetime.now(UTC).hour + 1
    assert body["period"] == "7d"
    assert body["total_cost"] == Decimal("121.01")
    assert body["workload_cost"] == Decimal("115.76")
    assert body["idle_cost"] == Decimal("5.25")
    assert body["idle_percent"] == Decimal("4.34")
    previous = d.spend(d.days[3] - 7 * DAY, d.days[2])
    assert body["previous_total_cost"] == cents(previous)
    assert body["change"] == cents(121_010_000 - previous)
    # 24 x total / the hours of the window that have begun: six whole days and today so far
    averages = {
        (Decimal("121.01") * 24 / (6 * 24 + hours)).quantize(Decimal("0.01"))
        for hours in (hours_before, hours_after)
    }
    assert body["daily_average"] in averages
    assert body["resources"]["cpu"] == Decimal("49.26")
    assert sum(body["resources"].values()) == Decimal("121.01")
    assert (
        body["cluster_count"],
        body["namespace_count"],
        body["workload_count"],
        body["service_count"],
    ) == (2, 3, 5, 4)


def test_dashboard_top_drivers_is_an_ordered_list(api: Api) -> None:
    body = api.get("/dashboard/top-drivers", limit="2", period="7d")
    assert [d["name"] for d in body] == ["ml/llm-server", "web/web"]
    assert [d["rank"] for d in body] == [1, 2]
    default = api.get("/dashboard/top-drivers")
    assert [d["name"] for d in default] == [
        "ml/llm-server",
        "batch/etl",
        "web/web",
        "batch/tiny-b",
        "batch/tiny-a",
    ]


def test_dashboard_overview_matches_the_single_endpoints(api: Api) -> None:
    body = api.get("/dashboard")
    assert set(body) == {"stats", "costTrend", "monthlyCosts", "topDrivers"}
    assert body["stats"]["total_cost"] == Decimal("172.76")
    assert body["stats"]["period"] == "30d"
    assert body["monthlyCosts"] == api.get("/costs/monthly")
    assert body["costTrend"]["total_cost"] == Decimal("172.76")
    assert len(body["costTrend"]["points"]) == 10
    assert body["topDrivers"] == api.get("/dashboard/top-drivers")


# --- auth and bad input ---------------------------------------------------------------------

ENDPOINTS = [
    "/costs/monthly",
    "/costs/daily",
    "/costs/services",
    "/costs/historical",
    "/costs/breakdown",
    "/costs/trends",
    "/costs/top-drivers",
    "/dashboard",
    "/dashboard/stats",
    "/dashboard/top-drivers",
]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_needs_an_x_api_key_with_finops_read(api: Api, path: str) -> None:
    cases = [
        (api.raw(path, key=None), 401, "UNAUTHORIZED"),
        (api.raw(path, key="all", bearer=True), 401, "UNAUTHORIZED"),
        (api.raw(path, key="cpk_0000_nope"), 401, "UNAUTHORIZED"),
        (api.raw(path, key="no_finops"), 403, "FORBIDDEN"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (path, response.text)
        body = response.json()
        assert body["error"]["code"] == code
        assert body["meta"]["request_id"].startswith("req_")
    assert api.raw(path).status_code == 200


BAD_INPUT = [
    ("/costs/monthly", {"months": "twelve"}, 400, None),
    ("/costs/monthly", {"months": "0"}, 422, None),
    ("/costs/monthly", {"months": "61"}, 422, None),
    ("/costs/monthly", {"year": "1999"}, 422, None),
    ("/costs/monthly", {"year": "20x6"}, 400, None),
    ("/costs/daily", {"startDate": "yesterday"}, 400, None),
    ("/costs/daily", {"startDate": "2026-13-01"}, 400, None),
    ("/costs/daily", {"startDate": "2026-05-02", "endDate": "2026-05-01"}, 422, None),
    ("/costs/daily", {"startDate": "2015-01-01", "endDate": "2026-01-01"}, 422, None),
    ("/costs/daily", {"startDate": "1970-01-01"}, 422, None),
    ("/costs/daily", {"endDate": "9999-12-31T23:59:59-05:00"}, 422, None),
    ("/costs/daily", {"resourceType": "disk"}, 422, ["cpu", "ram", "gpu", "storage"]),
    ("/costs/services", {"period": "quarterly"}, 422, ["daily", "weekly", "monthly"]),
    ("/costs/services", {"period": "7d", "startDate": "2026-05-01"}, 422, None),
    ("/costs/historical", {"groupBy": "pod"}, 422, ["cluster", "namespace", "resource_type"]),
    ("/costs/historical", {"orgId": ""}, 400, None),
    ("/costs/historical", {"userId": "a\x00b"}, 400, None),
    ("/costs/breakdown", {"orgId": "x" * 254}, 400, None),
    ("/costs/breakdown", {"groupBy": "label"}, 422, ["team", "owner", "org", "user"]),
    ("/costs/breakdown", {"window": "7x"}, 422, ["h", "d", "w", "m"]),
    ("/costs/breakdown", {"window": "-7d"}, 400, None),
    ("/costs/breakdown", {"window": "0d"}, 422, None),
    ("/costs/breakdown", {"window": "9" * 400 + "d"}, 422, None),
    ("/costs/trends", {"granularity": "yearly"}, 422, ["hourly", "daily", "weekly", "monthly"]),
    ("/costs/trends", {"window": "60d", "granularity": "hourly"}, 422, None),
    ("/costs/trends", {"window": "745h"}, 422, None),
    ("/costs/top-drivers", {"limit": "1.5"}, 400, None),
    ("/costs/top-drivers", {"limit": "101"}, 422, None),
    ("/costs/top-drivers", {"compareWindow": "forever"}, 422, ["daily", "weekly", "monthly"]),
    ("/costs/services", {"period": "7 d"}, 400, None),
    ("/dashboard/stats", {"period": "\u00e9t\u00e9"}, 400, None),
    ("/dashboard/top-drivers", {"limit": "-1"}, 422, None),
]


@pytest.mark.parametrize(("path", "params", "status", "allowed"), BAD_INPUT)
def test_bad_input_is_400_or_422_never_500(
    api: Api, path: str, params: dict[str, str], status: int, allowed: list[str] | None
) -> None:
    assert_bad_input(api.raw(path, **params), status, allowed)


def test_openapi_documents_money_as_numbers(api: Api) -> None:
    schema = httpx.get(api.base + "/schema/openapi.json").json()
    operations = {op["operationId"] for p in schema["paths"].values() for op in p.values()}
    assert {
        "getFinopsMonthlyCosts",
        "getFinopsDailyCosts",
        "getFinopsServiceCosts",
        "getFinopsHistoricalCosts",
        "getFinopsCostBreakdown",
        "getFinopsCostTrends",
        "getFinopsTopDrivers",
        "getFinopsDashboard",
        "getFinopsDashboardStats",
        "getFinopsDashboardTopDrivers",
    } <= operations
    point = schema["components"]["schemas"]["CostPoint"]["properties"]["total"]
    assert point["type"] == "number"
    for routed in ("/costs/forecast", "/costs/anomalies", "/costs/realtime"):
        assert PREFIX + routed in schema["paths"]
