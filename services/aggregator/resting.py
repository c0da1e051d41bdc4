"""Caught-up partitions rest between polls instead of being fetched in a tight loop.

The consumer prefetches in the background: every partition with nothing buffered is fetched
again as soon as the previous fetch answers. Apache Kafka holds a fetch for an empty partition up
to `fetch.max.wait.ms`, so an idle partition costs two requests a second. A broker that answers
at once (the local emulator does) turns the same loop into thousands of empty fetches a second,
which took about a third of the aggregator's CPU and much of the broker's while batches were
being written. A partition that has read up to its high watermark is paused; once a rest is
over, one ListOffsets request for all the rested partitions tells which have records past their
position, and only those are resumed (the others rest again). An idle aggregator then asks the
broker twice a second instead of fetching in a loop; on Kafka it changes nothing but when an idle
partition's next records are noticed (at most one rest later).
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

log = logging.getLogger(__name__)


class RestingPartitions:
    def __init__(self, rest_seconds: float, ask_timeout_seconds: float = 5.0) -> None:
        self.rest_seconds = rest_seconds
        self.ask_timeout_seconds = ask_timeout_seconds
        self._since: dict[TopicPartition, float] = {}

    async def wake_rested(self, consumer: AIOKafkaConsumer) -> None:
        """Resume the rested partitions that have records past their position, once their
        rest is over; forget those no longer assigned (a new assignment starts unpaused).

        If the broker cannot say (an outage, a timeout), every partition whose rest is over is
        resumed: fetching is what notices the broker is back."""
        owned = consumer.assignment()
        for tp in [tp for tp in self._since if tp not in owned]:
            del self._since[tp]
        now = time.monotonic()
        due = [tp for tp, since in self._since.items() if now - since >= self.rest_seconds]
        if not due:
            return
        ends: dict[TopicPartition, int] | None
        try:
            ends = await asyncio.wait_for(consumer.end_offsets(due), self.ask_timeout_seconds)
        except (KafkaError, TimeoutError) as exc:
            log.debug("end offsets unavailable (%r); resuming the rested partitions", exc)
            ends = None
        owned = consumer.assignment()
        awake = []
        for tp in due:
            if tp not in owned:
                self._since.pop(tp, None)
                continue
            if ends is not None and tp in ends:
                try:
                    position = await consumer.position(tp)
                except IllegalStateError:  # revoked meanwhile
                    self._since.pop(tp, None)
                    continue
                if ends[tp] <= position:
                    self._since[tp] = time.monotonic()  # nothing new: another rest
                    continue
            self._since.pop(tp, None)
            awake.append(tp)
        if awake:
            consumer.resume(*awake)

    async def rest_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        """Pause every owned partition that has returned everything up to its last known high
        watermark (so nothing of it is buffered, nothing is dropped by pausing it)."""
        now = time.monotonic()
        caught_up = []
        for tp in consumer.assignment():
            if tp in self._since:
                continue
            highwater = consumer.highwater(tp)  # None until a fetch of this assignment answered
            if highwater is None:
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # revoked meanwhile
                continue
            if position >= highwater:
                caught_up.append(tp)
        owned = consumer.assignment()
        caught_up = [tp for tp in caught_up if tp in owned]
        for tp in caught_up:
            self._since[tp] = now
        if caught_up:
            consumer.pause(*caught_up)

    def resting(self) -> set[TopicPartition]:
        return set(self._since)
