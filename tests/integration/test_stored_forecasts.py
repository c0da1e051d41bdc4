"""Forecasts and anomaly answers are computed once per version of their input and stored: the
same history asked again, by this process or another one started later, is read, not computed; a
new day of data is a new input and gets a new answer. The stored answer is the one `project` (or
`find_anomalies`) computes from the same data. A question asked once is fitted again by the API's
refresher when its data changes, before anyone asks it again.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import msgspec
import psycopg
import pytest

from services.api.finops.analysis_schemas import AnomalyScope
from services.api.finops.anomaly_report import (
    ORGANIZATION,
    ScopedSeries,
    Spans,
    find_anomalies,
    stored_anomalies,
)
from services.api.finops.forecast import ForecastModel
from services.api.finops.forecast_report import project, stored_forecast
from services.api.finops.scope import Scope
from shared.apikeys import ALL_CLUSTERS, create_key
from shared.db.pool import make_pool
from shared.events import AllocationEvent
from shared.settings import DatabaseSettings
from shared.timewindows import floor_hour
from tests.support.fault_pipeline import wait_for
from tests.support.pipeline import aggregate, allocation, produce
from tests.support.processes import running_api

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 20)
DAY = timedelta(days=1)
SCOPE = Scope(cluster_names={uuid.UUID("c1000000-0000-4000-8000-0000000000b1"): "east"})


def _history(days: int, last: date) -> list[tuple[datetime, int]]:
    """A weekly pattern over a slow rise, in micro-units per complete day, ending at `last`."""
    start = last - (days - 1) * DAY
    return [
        (
            datetime(d.year, d.month, d.day, tzinfo=UTC),
            round((50 + 0.3 * i + 6 * math.sin(i * 2 * math.pi / 7)) * 1_000_000),
        )
        for i in range(days)
        if (d := start + i * DAY)
    ]


def _rows(url: str) -> list[tuple[str, bytes]]:
    with psycopg.connect(url) as conn:
        return [
            (str(row[0]), bytes(row[1]))
            for row in conn.execute(
                "SELECT computed_at, input_digest FROM model_answer ORDER BY computed_at"
            ).fetchall()
        ]


async def test_a_forecast_is_fitted_once_per_input_and_kept_across_processes(
    database_url: str,
) -> None:
    settings = DatabaseSettings(url=database_url)
    points = _history(120, TODAY - DAY)
    model = ForecastModel.AUTO
    async with make_pool(settings, "api-first") as pool:
        started = time.perf_counter()
        first = await stored_forecast(pool, SCOPE, points, TODAY, 3, model, datetime.now(UTC))
        fitted_seconds = time.perf_counter() - started
        again = await stored_forecast(pool, SCOPE, points, TODAY, 3, model, datetime.now(UTC))
    assert first.predictions, first.reason
    assert first.computed_at is not None
    assert first.data_through == "2026-11-20T00:00:00Z"
    # The stored answer is the fitted one: the same numbers `project` gives for the same data.
    direct = project(points, TODAY, 3, model)
    direct.computed_at, direct.data_through = first.computed_at, first.data_through
    assert msgspec.json.encode(first) == msgspec.json.encode(direct)
    assert msgspec.json.encode(again) == msgspec.json.encode(first)  # read, computed_at included
    assert len(_rows(database_url)) == 1

    # Another process (a restarted API) reads it, and fast.
    async with make_pool(settings, "api-restarted") as pool:
        started = time.perf_counter()
        after_restart = await stored_forecast(
            pool, SCOPE, points, TODAY, 3, model, datetime.now(UTC)
        )
        read_seconds = time.perf_counter() - started
    assert msgspec.json.encode(after_restart) == msgspec.json.encode(first)
    print(f"fitted in {fitted_seconds:.3f} s, read back in {read_seconds:.4f} s")

    # A new complete day is a new input: a new answer, fitted and stored beside the first.
    tomorrow = TODAY + DAY
    longer = _history(121, TODAY)
    async with make_pool(settings, "api-next-day") as pool:
        next_day = await stored_forecast(pool, SCOPE, longer, tomorrow, 3, model, datetime.now(UTC))
    assert next_day.data_through == "2026-11-21T00:00:00Z"
    assert next_day.history_days == first.history_days + 1
    assert next_day.predictions != first.predictions
    assert len(_rows(database_url)) == 2


async def test_parameters_are_part_of_the_input(database_url: str) -> None:
    settings = DatabaseSettings(url=database_url)
    points = _history(60, TODAY - DAY)
    async with make_pool(settings, "api") as pool:
        three = await stored_forecast(
            pool, SCOPE, points, TODAY, 3, ForecastModel.LINEAR, datetime.now(UTC)
        )
        six = await stored_forecast(
            pool, SCOPE, points, TODAY, 6, ForecastModel.LINEAR, datetime.now(UTC)
        )
        other_scope = Scope(cluster_names={uuid.uuid4(): "west"})
        elsewhere = await stored_forecast(
            pool, other_scope, points, TODAY, 3, ForecastModel.LINEAR, datetime.now(UTC)
        )
    assert len(three.predictions) == 3
    assert len(six.predictions) == 6
    assert elsewhere.predictions == three.predictions  # same input, same numbers
    assert len(_rows(database_url)) == 3


def _spiky_series(spans: Spans) -> list[ScopedSeries]:
    """The organization and one namespace over the spans' days, each with a spike at the end."""
    days = (spans.fit.end - spans.fit.start) // DAY
    last = (spans.fit.end - DAY).date()
    organization = _history(days, last)
    organization[-2] = (organization[-2][0], organization[-2][1] * 3)
    namespace = [(day, micros // 4) for day, micros in _history(days, last)]
    namespace[-5] = (namespace[-5][0], namespace[-5][1] * 4)
    scope = AnomalyScope("namespace", cluster_id="c1", cluster_name="east", namespace="shop")
    return [ScopedSeries(ORGANIZATION, organization), ScopedSeries(scope, namespace)]


async def test_anomalies_are_judged_once_per_input_and_kept_across_processes(
    database_url: str,
) -> None:
    settings = DatabaseSettings(url=database_url)
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    spans = Spans.of(30, now)
    series = _spiky_series(spans)
    threshold = Decimal("2.0")
    async with make_pool(settings, "api-first") as pool:
        first = await stored_anomalies(pool, "k", series, spans, 30, threshold, now)
        again = await stored_anomalies(pool, "k", series, spans, 30, threshold, now)
    spiked = {(a.scope.type, a.date) for a in first.anomalies}
    assert ("organization", "2026-11-18T00:00:00Z") in spiked
    assert ("namespace", "2026-11-15T00:00:00Z") in spiked
    assert first.computed_at == "2026-11-20T09:00:00Z"
    assert first.data_through == "2026-11-20T00:00:00Z"
    direct = find_anomalies(series, spans, 30, threshold)
    direct.computed_at, direct.data_through = first.computed_at, first.data_through
    assert msgspec.json.encode(first) == msgspec.json.encode(direct)
    assert msgspec.json.encode(again) == msgspec.json.encode(first)
    assert len(_rows(database_url)) == 1

    async with make_pool(settings, "api-restarted") as pool:
        later = now + timedelta(hours=1)  # same day, same input: the stored answer, as it was
        after_restart = await stored_anomalies(pool, "k", series, spans, 30, threshold, later)
        assert msgspec.json.encode(after_restart) == msgspec.json.encode(first)
        # The next day is a new input: judged anew, and yesterday's spike is now in the window.
        tomorrow = now + DAY
        next_spans = Spans.of(30, tomorrow)
        next_day = await stored_anomalies(
            pool, "k", _spiky_series(next_spans), next_spans, 30, threshold, tomorrow
        )
        other_threshold = await stored_anomalies(pool, "k", series, spans, 30, Decimal("50"), now)
    assert next_day.data_through == "2026-11-21T00:00:00Z"
    assert next_day.computed_at == "2026-11-21T09:00:00Z"
    assert next_day.period.start != first.period.start
    assert other_threshold.period.threshold == Decimal("50") != first.period.threshold
    assert len(_rows(database_url)) == 3


ORG = uuid.UUID("0000000e-0000-4000-8000-0000000f0ca5")
CLUSTER = uuid.uuid5(ORG, "east")
HOUR = timedelta(hours=1)


def _hours(start: datetime, hours: int, cost: int, name: str) -> list[AllocationEvent]:
    return [
        allocation(
            organization_id=ORG,
            cluster_id=CLUSTER,
            window_start=start + i * HOUR,
            window_end=start + (i + 1) * HOUR,
            name=f"{name}-{i}",
            cost=cost + (i % 24) * 1000,
            namespace=name,
            controller_kind="deployment",
            controller=name,
            workload_uid=uuid.uuid5(CLUSTER, name),
        )
        for i in range(hours)
    ]


def _answers_by_kind(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT kind, count(*) FROM model_answer GROUP BY kind").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def test_asked_questions_are_fitted_again_when_their_data_changes_before_anyone_asks(
    pipeline_env: dict[str, str], database_url: str
) -> None:
    today = floor_hour(datetime.now(UTC)).replace(hour=0)
    produce(pipeline_env, _hours(today - 20 * DAY, 20 * 24, 1_000_000, "shop"))
    aggregate(pipeline_env)
    with psycopg.connect(database_url, autocommit=True) as conn:
        key = create_key(conn, ORG, "all", ("finops:read",), clusters=ALL_CLUSTERS)[1]
    headers = {"X-API-Key": key}
    questions = (("/costs/forecast", {"model": "linear"}), ("/costs/anomalies", {"days": "7"}))
    env = {**pipeline_env, "COSTPIPE_API_MODEL_REFRESH_SECONDS": "1"}
    with running_api(env) as base:
        first = {}
        for path, params in questions:
            response = httpx.get(base + "/api/v1/finops" + path, params=params, headers=headers)
            assert response.status_code == 200, response.text
            first[path] = response.json()
        assert _answers_by_kind(database_url) == {"forecast": 1, "anomalies": 1}

        # A past day is restated (a workload's cost found late): both inputs change.
        produce(pipeline_env, _hours(today - 3 * DAY, 24, 9_000_000, "billing"))
        aggregate(pipeline_env)
        wait_for(
            "the refresher to fit the new inputs",
            lambda: _answers_by_kind(database_url) == {"forecast": 2, "anomalies": 2},
            90,
            lambda: str(_answers_by_kind(database_url)),
        )
        asked_at = datetime.now(UTC)
        for path, params in questions:
            response = httpx.get(base + "/api/v1/finops" + path, params=params, headers=headers)
            assert response.status_code == 200, response.text
            after = response.json()
            assert after != first[path]
            fitted_at = datetime.fromisoformat(after["computed_at"].replace("Z", "+00:00"))
            assert fitted_at < asked_at, (path, after["computed_at"], asked_at)
        # Nothing more was fitted for the request: it read what the refresher stored.
        assert _answers_by_kind(database_url) == {"forecast": 2, "anomalies": 2}
