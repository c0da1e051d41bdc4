"""FinOps numbers: exact cents in the JSON text, the trend rule, series and group folding."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.api.finops.groups import Group, humanize, largest_first, resource_groups
from services.api.finops.numbers import amount, average, change_percent, percent
from services.api.finops.params import ResourceType
from services.api.finops.queries import Measures
from services.api.finops.response import NumberResponse
from services.api.finops.schemas import CostPoint
from services.api.finops.series import timeline, trend
from services.api.finops.windows import Span
from shared.timewindows import Resolution

DAY = timedelta(days=1)


def render(content: object) -> str:
    return NumberResponse(content).render(content, "application/json").decode()


def test_cents_round_half_even() -> None:
    assert str(amount(125_000)) == "0.12"
    assert str(amount(135_000)) == "0.14"
    assert str(amount(-5_000)) == "0.00"  # never -0.00
    assert str(amount(-15_000)) == "-0.02"
    assert str(average(17_276_000 * 10, 10)) == "17.28"
    assert str(average(5, 0)) == "0.00"
    assert percent(1, 3) == Decimal("33.33")
    assert percent(1, 0) is None
    assert change_percent(29_750_000, 8_500_000) == Decimal("250.00")
    assert change_percent(5, 0) is None


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_json_text_is_the_rounded_decimal(micros: int) -> None:
    text = render(CostPoint("2026-01-01T00:00:00Z", amount(micros)))
    total = text.split('"total":', 1)[1].rstrip("}")
    expected = amount(micros)
    assert total == str(expected)
    assert json.loads(text, parse_float=Decimal)["total"] == expected


def test_non_decimal_content_renders_as_usual() -> None:
    assert render({"a": [1, None, "x"]}) == '{"a":[1,null,"x"]}'
    assert render(b"raw") == "raw"


def test_trend_threshold_is_two_percent_of_the_mean_per_day() -> None:
    assert trend([]) == "stable"
    assert trend([100]) == "stable"
    assert trend([99, 101]) == "stable"  # exactly +2 %/day is still stable
    assert trend([101, 99]) == "stable"
    assert trend([100, 103]) == "increasing"
    assert trend([103, 100]) == "decreasing"
    assert trend([0, 0, 0]) == "stable"
    assert trend([-5, 5]) == "stable"  # mean 0: no direction relative to it
    # A single spike in the middle has no slope.
    assert trend([10, 10, 50, 10, 10]) == "stable"
    assert trend(list(range(1, 11))) == "increasing"


def test_timeline_starts_at_first_data_and_zero_fills_to_now() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    span = Span(start, start + 10 * DAY)
    rows = [(start + 2 * DAY, 5), (start + 4 * DAY, 7)]
    now = start + 6 * DAY + timedelta(hours=3)
    assert timeline(rows, span, Resolution.DAILY, now) == [
        (start + 2 * DAY, 5),
        (start + 3 * DAY, 0),
        (start + 4 * DAY, 7),
        (start + 5 * DAY, 0),
        (start + 6 * DAY, 0),
    ]
    assert timeline([], span, Resolution.DAILY, now) == []
    later = start + 30 * DAY
    assert len(timeline(rows, span, Resolution.DAILY, later)) == 8


def _measures(total: int) -> Measures:
    resources = dict.fromkeys(ResourceType, 0)
    resources[ResourceType.CPU] = total
    return Measures(total, total, resources)


def test_largest_first_folds_the_rest_into_other() -> None:
    groups = [Group(k, k, _measures(v)) for k, v in (("b", 5), ("a", 5), ("c", 9), ("d", 1))]
    folded = largest_first(groups, 2)
    assert [(g.group_key, g.measures.total) for g in folded] == [
        ("c", 9),
        ("a", 5),
        ("__other__", 6),
    ]
    assert folded[-1].measures.resources[ResourceType.CPU] == 6
    assert [g.group_key for g in largest_first(groups, 4)] == ["c", "a", "b", "d"]


def test_resource_groups_add_up_to_the_total() -> None:
    resources = dict.fromkeys(ResourceType, 0)
    resources.update({ResourceType.CPU: 7, ResourceType.IDLE: 2})
    groups = resource_groups(Measures(10, 8, resources))
    assert sum(g.measures.total for g in groups) == 10
    assert groups[-1].group_key == "other"
    assert groups[-1].measures.total == 1


def test_humanize_service_names() -> None:
    assert humanize("llm") == "LLM"
    assert humanize("web-frontend") == "Web Frontend"
    assert humanize("model_serving.v2") == "Model Serving V2"
    assert humanize("etl-api") == "ETL API"
    assert humanize("") == "(none)"
    assert humanize("--") == "(none)"
