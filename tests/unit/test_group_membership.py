"""The stall watches' bookkeeping and the instance id's validation, which need no broker."""

from __future__ import annotations

import logging

import pytest
from aiokafka import TopicPartition

from services.aggregator.membership import AssignmentWatch, OrphanWatch
from services.ops_server import Readiness
from shared import metrics
from shared.settings import AggregatorSettings, SettingsError


def _counted() -> float:
    value = metrics.AGGREGATOR_UNASSIGNED_SECONDS._value.get()
    assert isinstance(value, float)
    return value


def test_no_partition_past_the_grace_period_is_reported_then_cleared(
    caplog: pytest.LogCaptureFixture,
) -> None:
    readiness = Readiness()
    watch = AssignmentWatch("group-x", lambda: "host-0", 60.0, readiness, log_every_seconds=60)
    before = _counted()
    with caplog.at_level(logging.WARNING):
        watch.observe(0, now=1000.0)
        watch.observe(0, now=1059.0)  # within the grace period: quiet
        assert readiness.reasons() == []
        assert not caplog.records
        watch.observe(0, now=1061.0)
        watch.observe(0, now=1090.0)  # logged once a minute, not every turn
        watch.observe(0, now=1122.0)
    assert len(caplog.records) == 2
    assert "group-x" in caplog.records[0].getMessage()
    assert "'host-0'" in caplog.records[0].getMessage()
    [reason] = readiness.reasons()
    assert "owns no partition of group 'group-x'" in reason
    assert _counted() - before == pytest.approx(122.0)
    watch.observe(3, now=1130.0)
    assert readiness.reasons() == []
    assert metrics.AGGREGATOR_ASSIGNED_PARTITIONS._value.get() == 3
    assert _counted() - before == pytest.approx(130.0)
    watch.observe(0, now=1140.0)  # a new wait starts its own grace period
    watch.observe(0, now=1150.0)
    assert readiness.reasons() == []


@pytest.mark.parametrize("bad", ["has space", "slash/name", "x" * 250, "ünïcode"])
def test_an_instance_id_kafka_would_refuse_is_refused_at_start(bad: str) -> None:
    with pytest.raises(SettingsError, match="COSTPIPE_AGGREGATOR_INSTANCE_ID"):
        AggregatorSettings.from_env({"COSTPIPE_AGGREGATOR_INSTANCE_ID": bad})


def test_the_instance_id_is_taken_as_given_or_left_to_the_lease() -> None:
    assert AggregatorSettings.from_env({}).instance_id is None
    given = AggregatorSettings.from_env(
        {"COSTPIPE_AGGREGATOR_INSTANCE_ID": "costpipe-aggregator-0"}
    )
    assert given.instance_id == "costpipe-aggregator-0"


def test_a_partition_with_records_waiting_and_no_commit_is_reported_after_the_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = OrphanWatch("group-y", stalled_after_seconds=40.0)
    dead, idle, moving = (TopicPartition("t", p) for p in range(3))
    ends = {dead: 500, idle: 100, moving: 900}
    with caplog.at_level(logging.WARNING):
        assert watch.stalled({dead: 100, idle: 100, moving: 200}, ends, now=0.0) == []
        assert watch.stalled({dead: 100, idle: 100, moving: 300}, ends, now=39.0) == []
        # Records wait on `dead` and its offset has not moved for 41 s; `idle` has nothing to
        # read; `moving` is consumed.
        assert watch.stalled({dead: 100, idle: 100, moving: 400}, ends, now=41.0) == [dead]
    assert metrics.AGGREGATOR_STALLED_PARTITIONS._value.get() == 1
    [line] = caplog.records
    assert "group-y" in line.getMessage()
    assert "t[0]" in line.getMessage()
    # Its owner is back and commits: no longer stalled.
    assert watch.stalled({dead: 150, idle: 100, moving: 400}, ends, now=50.0) == []
    assert metrics.AGGREGATOR_STALLED_PARTITIONS._value.get() == 0
