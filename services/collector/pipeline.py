"""Following new hours in a pipeline: the next chunk is fetched while the previous are in flight.

Done one chunk at a time, a backfill spends most of its time waiting: on the Kubecost server for
a chunk, then on the broker for its acknowledgements, each idle while the other works. Here three
stages run together, joined by small queues, each taking chunks in window order:

1. `prepare` fetches and maps a chunk (the HTTP requests and the CPU of mapping);
2. `submit` hands its events over to the producer; one stage, so chunks reach each partition in
   window order and the ordering per key is the one-at-a-time one;
3. `complete` waits for the chunk's acknowledgement (acks=all), then moves the watermark.

The watermark rule is unchanged: the third stage takes chunks strictly in order, so a window's
watermark is written only after every event of that window and of all earlier windows was
acknowledged. Besides the chunk being completed, at most `depth` chunks wait for their
acknowledgement, which bounds memory and what a crash makes the next cycle fetch again. Any
failure (a refused batch, the database) ends all three stages, with the watermark at the last
chunk fully acknowledged; a fetch failure ends the first, and the chunks before it complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

Window = tuple[datetime, datetime]
T = TypeVar("T")

# Chunks handed over and not yet acknowledged: two keep the broker busy while the collector
# prepares the next, and bound what a failure makes the next cycle fetch again.
DEPTH = 2


class Acknowledged(Protocol):
    async def wait(self) -> None: ...


@dataclass(frozen=True)
class _Submitted(Generic[T]):
    window: Window
    chunk: T
    acknowledgement: Acknowledged


async def follow(
    windows: Sequence[Window],
    prepare: Callable[[Window], Awaitable[T | None]],
    submit: Callable[[T], Awaitable[Acknowledged]],
    complete: Callable[[Window, T], Awaitable[None]],
    *,
    stop: asyncio.Event,
    depth: int = DEPTH,
) -> bool:
    """Run the windows through the three stages; True if every one was completed.

    `prepare` returns None when a window could not be fetched (it has recorded why): no later
    window is fetched, the earlier ones still complete, and False is returned. Once `stop` is
    set no further window is fetched either.
    """
    prepared: asyncio.Queue[tuple[Window, T] | None] = asyncio.Queue(maxsize=1)
    submitted: asyncio.Queue[_Submitted[T] | None] = asyncio.Queue(maxsize=depth)
    completed = 0
    failure: Exception | None = None

    # A stage that ends tells the next one with None. A failure to fetch or hand over a chunk
    # ends the stages before it, and the chunks already handed over still complete (their
    # watermark is safe to move), before the failure is raised; a failure to complete one (a
    # refused batch, the database) ends everything at once, through the task group.
    async def fetch_stage() -> None:
        nonlocal failure
        try:
            for window in windows:
                if stop.is_set():
                    break
                chunk = await prepare(window)
                if chunk is None:
                    break
                await prepared.put((window, chunk))
        except Exception as exc:  # noqa: BLE001 - raised once the chunks before it completed
            failure = exc
        await prepared.put(None)

    async def submit_stage(fetching: asyncio.Task[None]) -> None:
        nonlocal failure
        try:
            while (item := await prepared.get()) is not None:
                window, chunk = item
                await submitted.put(_Submitted(window, chunk, await submit(chunk)))
        except Exception as exc:  # noqa: BLE001 - raised once the chunks before it completed
            failure = exc
            fetching.cancel()
        await submitted.put(None)

    async def complete_stage() -> None:
        nonlocal completed
        while (item := await submitted.get()) is not None:
            await item.acknowledgement.wait()
            await complete(item.window, item.chunk)
            completed += 1

    try:
        async with asyncio.TaskGroup() as group:
            fetching = group.create_task(fetch_stage())
            group.create_task(submit_stage(fetching))
            group.create_task(complete_stage())
    except BaseExceptionGroup as failures:
        raise _first(failures) from None
    if failure is not None:
        raise failure
    return completed == len(windows)


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The failure that ended the pipeline, unwrapped, so callers see the Kafka or database error
    itself (the collector labels its metrics by the exception's type)."""
    for failure in group.exceptions:
        if isinstance(failure, BaseExceptionGroup):
            return _first(failure)
        if not isinstance(failure, asyncio.CancelledError):
            return failure
    return group.exceptions[0]
