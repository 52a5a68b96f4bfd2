"""Enqueue from an async web handler (Starlette; FastAPI is the same).

DATABASE_URL=... uvicorn examples.web_starlette:app
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trigger_compat import AsyncClient, PayloadValidationError

from ._common import CATALOG


def make_app(queue: AsyncClient) -> Starlette:
    async def create_event(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            job = await queue.enqueue(
                "deliverEvent",
                {"id": body["id"]},
                {"jobKey": f"event:{body['id']}", "runAt": datetime.fromisoformat(body["at"])},
            )
        except PayloadValidationError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"job": job.id}, status_code=202)

    async def cancel_event(request: Request) -> JSONResponse:
        job = await queue.dequeue(f"event:{request.path_params['id']}")
        return JSONResponse({"cancelled": job is not None})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with queue:  # closes the client's pool at shutdown
            yield

    return Starlette(
        routes=[
            Route("/events", create_event, methods=["POST"]),
            Route("/events/{id}", cancel_event, methods=["DELETE"]),
        ],
        lifespan=lifespan,
    )


if "DATABASE_URL" in os.environ:
    app = make_app(AsyncClient(os.environ["DATABASE_URL"], catalog=CATALOG))
