"""Putting hand-made events (allocations, node assets) through the real pipeline: Kafka, then the
aggregator process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from services.collector.producer import EventProducer
from shared.asset_events import ASSET_SCHEMA_VERSION, AssetCostEvent, AssetType
from shared.events import ALLOCATION_SCHEMA_VERSION, AllocationEvent, AllocationKind
from shared.ids import allocation_event_id, asset_event_id
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.support.processes import run_costpipe


def allocation(
    *,
    organization_id: uuid.UUID,
    cluster_id: uuid.UUID,
    window_start: datetime,
    window_end: datetime,
    name: str,
    cost: int,
    idle_share: int = 0,
    namespace: str = "",
    controller_kind: str = "",
    controller: str = "",
    workload_uid: uuid.UUID | None = None,
    node_group: str = "",
    kind: AllocationKind = AllocationKind.WORKLOAD,
    produced_at: datetime | None = None,
) -> AllocationEvent:
    return AllocationEvent(
        schema_version=ALLOCATION_SCHEMA_VERSION,
        event_id=allocation_event_id(cluster_id, window_start, name),
        organization_id=organization_id,
        cluster_id=cluster_id,
        cluster_name=f"cluster-{str(cluster_id)[:8]}",
        window_start=window_start,
        window_end=window_end,
        name=name,
        kind=kind,
        namespace=namespace,
        controller_kind=controller_kind,
        controller=controller,
        workload_uid=workload_uid,
        node_group=node_group,
        total_cost=cost if not kind.is_idle_pool else idle_share,
        cost=cost,
        cpu_cost=cost,
        idle_share=idle_share,
        produced_at=produced_at or datetime.now(UTC),
    )


def node_asset(
    *,
    organization_id: uuid.UUID,
    cluster_id: uuid.UUID,
    window_start: datetime,
    window_end: datetime,
    name: str,
    node_group: str,
    total_cost: int,
    gpu_cost: int = 0,
    produced_at: datetime | None = None,
) -> AssetCostEvent:
    """One node's bill for one window: `gpu_cost` of it GPU, the rest CPU, no discount."""
    key = f"AWS/test/Compute/{name}"
    return AssetCostEvent(
        schema_version=ASSET_SCHEMA_VERSION,
        event_id=asset_event_id(cluster_id, window_start, key),
        organization_id=organization_id,
        cluster_id=cluster_id,
        cluster_name=f"cluster-{str(cluster_id)[:8]}",
        window_start=window_start,
        window_end=window_end,
        asset_key=key,
        asset_type=AssetType.NODE,
        name=name,
        node_group=node_group,
        cpu_cost=total_cost - gpu_cost,
        gpu_cost=gpu_cost,
        total_cost=total_cost,
        produced_at=produced_at or datetime.now(UTC),
    )


def produce(
    env: Mapping[str, str],
    events: Sequence[AllocationEvent],
    assets: Sequence[AssetCostEvent] = (),
) -> None:
    settings = KafkaSettings.from_env(env)

    async def main() -> None:
        await ensure_topics(settings)
        producer = EventProducer(settings)
        await producer.start()
        try:
            await producer.send_chunk(events, assets)
        finally:
            await producer.stop()

    asyncio.run(main())


def aggregate(env: Mapping[str, str], idle_seconds: float = 3.0) -> None:
    """Run the aggregator process until it has been idle for `idle_seconds` with partitions."""
    run_costpipe(["aggregator", "--exit-when-idle", str(idle_seconds)], env)
