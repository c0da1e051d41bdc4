"""Who this aggregator is in its consumer group, and saying so loudly when the group leaves it idle.

A restarted aggregator must resume by itself. Under dynamic membership it joins as a new member
and waits until the broker has evicted the dead one, after the session timeout on Apache Kafka,
and never on the local emulated broker, which evicts nobody. As a static member (KIP-345,
`group.instance.id`) it takes its old place at once on both: the broker hands the returning
instance the dead one's partitions without a rebalance.

Static membership needs every live instance of a group to have its own id: two live members
under one id fence each other (Apache Kafka) or take turns owning everything (the emulator). The
id is therefore leased: a session-level PostgreSQL advisory lock on (group, id), held on a
connection of its own for the process's life. The database frees it the moment the process dies
(its connection closes), so a restart takes the same id again, while a second live process with
that id waits and says why. "The moment" needs both ends to notice: a peer that vanishes without
closing (a node lost, a network partition) leaves a half-open connection that TCP alone keeps
for hours, holding the lock on the server and hanging the probe here. So the lease connection
sends keepalives from both ends (libpq's on the client, `tcp_keepalives_*` for its server
backend; a dead peer is noticed after about 25 s) and its probe has a deadline. Without a configured id the aggregator takes `<hostname>-<n>` with
the first free n: stable across restarts on one host or pod, distinct for each process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable

import psycopg
from aiokafka import TopicPartition

from services.ops_server import Readiness
from shared import metrics
from shared.settings import AggregatorSettings, DatabaseSettings

log = logging.getLogger(__name__)

# How many default ids (`<hostname>-0` ... ) one host may run at once.
MAX_SLOTS = 64
_CHECK_SECONDS = 5.0
_PROBE_SECONDS = 10.0
# Idle seconds before the first probe, seconds between probes, probes lost before the
# connection is dead: about 25 s in all.
KEEPALIVE = (10, 5, 3)
_WAIT_LOG_SECONDS = 10.0


class LeaseLost(RuntimeError):
    """Another live aggregator took this instance id while the database was away."""


class InstanceLease:
    """The group instance id this process holds, and the connection whose lock holds it."""

    def __init__(self, database: DatabaseSettings, group: str, settings: AggregatorSettings):
        self._url = database.url
        self._group = group
        self._configured = settings.instance_id
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self.instance_id: str | None = None

    def _ids(self) -> list[str]:
        if self._configured is not None:
            return [self._configured]
        host = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname())
        return [f"{host or 'aggregator'}-{n}" for n in range(MAX_SLOTS)]

    async def acquire(self, stop: asyncio.Event, readiness: Readiness) -> bool:
        """Take an id; waits while every candidate is held by a live aggregator (or the
        database is down). False if asked to stop first."""
        last_log = -float("inf")
        while not stop.is_set():
            try:
                taken = await self._try_take(self._ids())
            except psycopg.OperationalError as exc:
                taken, problem = None, f"database unavailable ({exc})"
            else:
                problem = (
                    f"instance id {self._configured!r} of group {self._group!r} is held by "
                    "another live aggregator (COSTPIPE_AGGREGATOR_INSTANCE_ID must differ per "
                    "aggregator)"
                    if self._configured is not None
                    else f"all {MAX_SLOTS} default instance ids of this host are held"
                )
            if taken is not None:
                self.instance_id = taken
                readiness.set("membership", None)
                log.info("group %r: this aggregator is instance %r", self._group, taken)
                return True
            readiness.set("membership", f"aggregator: waiting for an instance id: {problem}")
            if time.monotonic() - last_log >= _WAIT_LOG_SECONDS:
                log.warning("aggregator waits for an instance id: %s", problem)
                last_log = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return False

    async def _try_take(self, candidates: list[str]) -> str | None:
        await self._close()
        idle, interval, count = KEEPALIVE
        conn = await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            application_name="costpipe-aggregator-lease",
            keepalives=1,
            keepalives_idle=idle,
            keepalives_interval=interval,
            keepalives_count=count,
        )
        try:
            # The server's end of this connection probes too, so that the lock of a process
            # that vanished is freed within seconds, not after the kernel's two hours.
            for setting, value in (
                ("tcp_keepalives_idle", idle),
                ("tcp_keepalives_interval", interval),
                ("tcp_keepalives_count", count),
            ):
                await conn.execute("SELECT set_config(%s, %s, false)", (setting, str(value)))
            for candidate in candidates:
                cursor = await conn.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                    (f"costpipe-aggregator:{self._group}:{candidate}",),
                )
                row = await cursor.fetchone()
                if row is not None and row[0] is True:
                    self._conn = conn
                    return candidate
        except BaseException:
            await conn.close()
            raise
        await conn.close()
        return None

    async def keep(self, stop: asyncio.Event) -> None:
        """Hold the lease until `stop`: a database restart drops the lock with its connection,
        so it is taken again when the database is back. Raises `LeaseLost` if another process
        took this id meanwhile: running on beside it would make both owners of everything."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _CHECK_SECONDS)
            if stop.is_set() or await self._still_held():
                continue
            while not stop.is_set():
                try:
                    assert self.instance_id is not None
                    if await self._try_take([self.instance_id]) is not None:
                        log.info("instance id %r leased again", self.instance_id)
                        break
                    raise LeaseLost(
                        f"instance id {self.instance_id!r} of group {self._group!r} was taken "
                        "by another aggregator while the database was unavailable"
                    )
                except psycopg.OperationalError:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)

    async def _still_held(self) -> bool:
        if self._conn is None or self._conn.closed:
            return False
        try:
            async with asyncio.timeout(_PROBE_SECONDS):
                await self._conn.execute("SELECT 1")
        except (psycopg.OperationalError, TimeoutError):
            return False
        return True

    async def release(self) -> None:
        await self._close()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()


class AssignmentWatch:
    """Owning no partition for longer than the grace period is a stall, however it came about
    (a rebalance that never ends, a broker that keeps a dead member's partitions): it is logged
    every minute, counted, and reported by /readyz, instead of an INFO line and silence."""

    def __init__(
        self,
        group: str,
        instance_id: Callable[[], str | None],
        grace_seconds: float,
        readiness: Readiness,
        log_every_seconds: float = 60.0,
    ) -> None:
        self._group = group
        self._instance_id = instance_id
        self._grace = grace_seconds
        self._readiness = readiness
        self._log_every = log_every_seconds
        self._unassigned_since: float | None = None  # from the first `observe`
        self._counted_until = 0.0
        self._last_log = -float("inf")

    def observe(self, assigned: int, now: float | None = None) -> None:
        """Called every turn of the aggregator's loop with how many partitions it owns."""
        now = time.monotonic() if now is None else now
        metrics.AGGREGATOR_ASSIGNED_PARTITIONS.set(assigned)
        if self._unassigned_since is not None:
            metrics.AGGREGATOR_UNASSIGNED_SECONDS.inc(now - self._counted_until)
            self._counted_until = now
        if assigned:
            self._unassigned_since = None
            self._readiness.set("assignment", None)
            return
        if self._unassigned_since is None:
            self._unassigned_since = self._counted_until = now
        waited = now - self._unassigned_since
        if waited <= self._grace:
            return
        reason = (
            f"aggregator {self._instance_id()!r} owns no partition of group {self._group!r} "
            f"for {waited:.0f}s: waiting for the group coordinator to assign partitions "
            "(a rebalance in progress, or the broker still holds a dead member's partitions)"
        )
        self._readiness.set("assignment", reason)
        if now - self._last_log >= self._log_every:
            log.warning("%s", reason)
            self._last_log = now


class OrphanWatch:
    """Partitions of the group that another member owns but nobody consumes.

    A member that dies keeps its partitions until the broker evicts it: Apache Kafka does after
    the session timeout, the local emulated broker never does. The survivors cannot tell a dead
    member from a slow one, but they can see the result: a partition with records waiting whose
    committed offset has not moved for longer than the session timeout plus the grace period.
    That is logged every minute and exported, instead of a silent stall of part of the data.
    """

    def __init__(
        self, group: str, stalled_after_seconds: float, log_every_seconds: float = 60.0
    ) -> None:
        self._group = group
        self._stalled_after = stalled_after_seconds
        self._log_every = log_every_seconds
        # partition -> (committed offset, when it was first seen at that offset)
        self._seen: dict[TopicPartition, tuple[int, float]] = {}
        self._last_log = -float("inf")

    def stalled(
        self,
        committed: dict[TopicPartition, int],
        ends: dict[TopicPartition, int],
        now: float | None = None,
    ) -> list[TopicPartition]:
        """Given the committed and end offsets of the partitions this member does not own."""
        now = time.monotonic() if now is None else now
        found = []
        for tp, end in ends.items():
            offset = committed.get(tp, 0)
            previous = self._seen.get(tp)
            if previous is None or previous[0] != offset or end <= offset:
                self._seen[tp] = (offset, now)
            elif now - previous[1] > self._stalled_after:
                found.append(tp)
        for tp in set(self._seen) - set(ends):
            del self._seen[tp]  # owned by this member now
        metrics.AGGREGATOR_STALLED_PARTITIONS.set(len(found))
        if found and now - self._last_log >= self._log_every:
            self._last_log = now
            log.warning(
                "group %r: partitions %s have records waiting and no commit for over %.0fs: "
                "the member that owns them is not consuming (dead, and not evicted by the "
                "broker: Apache Kafka evicts it after the session timeout, the embedded local "
                "broker never does; start that aggregator again with its configuration)",
                self._group,
                sorted(f"{tp.topic}[{tp.partition}]" for tp in found),
                self._stalled_after,
            )
        return found
