from __future__ import annotations

import json
import logging

from shared.logs import JsonFormatter


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
