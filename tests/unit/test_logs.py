from __future__ import annotations

import json
import logging

from shared.logs import ContextFilter, JsonFormatter, TextFormatter, log_context


def test_json_lines_carry_extra_fields_and_exceptions() -> None:
    record = logging.LogRecord("costpipe.x", logging.WARNING, __file__, 1, "batch %d", (7,), None)
    record.batch_id = "b-1"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "batch 7"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "costpipe.x"
    assert entry["batch_id"] == "b-1"
    assert entry["time"].endswith("+00:00")
    error = ValueError("boom")
    failing = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "m", (), (ValueError, error, error.__traceback__)
    )
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failing))["exception"]


def _formatted(logger: logging.Logger, message: str, **extra: str) -> dict[str, object]:
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    assert ContextFilter().filter(record)
    entry: dict[str, object] = json.loads(JsonFormatter().format(record))
    return entry


def test_bound_fields_reach_every_line_until_the_block_ends() -> None:
    logger = logging.getLogger("costpipe.test")
    with log_context(batch_id="b-9", cluster="c-1"):
        with log_context(window="w-3"):
            inner = _formatted(logger, "inner")
        outer = _formatted(logger, "outer", cluster="explicit")
    after = _formatted(logger, "after")
    assert (inner["batch_id"], inner["cluster"], inner["window"]) == ("b-9", "c-1", "w-3")
    assert (outer["batch_id"], outer["cluster"]) == ("b-9", "explicit")
    assert "window" not in outer
    assert "batch_id" not in after


def test_text_lines_append_the_bound_fields() -> None:
    record = logging.LogRecord("costpipe.x", logging.INFO, __file__, 1, "hello", (), None)
    with log_context(request_id="req_1"):
        ContextFilter().filter(record)
    assert TextFormatter().format(record).endswith("hello [request_id=req_1]")
