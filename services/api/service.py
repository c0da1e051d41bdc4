"""The API as a long-lived process: its own module, so that the other services' processes do
not import the web application (about a second of start-up)."""

from __future__ import annotations

import asyncio

import uvicorn

from services.api.access_log import access_log_middleware
from services.api.app import create_app
from services.ops_server import EmbeddedServer
from shared.settings import ApiSettings, DatabaseSettings, KafkaSettings


async def api_service(
    database: DatabaseSettings,
    api: ApiSettings,
    stop: asyncio.Event,
    kafka: KafkaSettings | None = None,
) -> None:
    app = create_app(database, api, kafka)
    server = EmbeddedServer(
        # Outside the application so that requests the router refuses are logged too.
        uvicorn.Config(
            access_log_middleware(app),
            host=api.host,
            port=api.port,
            log_level="warning",
            lifespan="on",
        )
    )
    await server.serve_until(stop)
