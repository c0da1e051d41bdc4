"""Process-wide logging set up once by the CLI: one line per record, level from COSTPIPE_LOG_LEVEL."""

from __future__ import annotations

import logging
import os


def setup_logging(default_level: str = "INFO") -> None:
    level = os.environ.get("COSTPIPE_LOG_LEVEL", default_level).upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiokafka logs every transient connection problem at ERROR; we report those ourselves.
    # httpx logs every request at INFO; the collector logs what matters per window itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
