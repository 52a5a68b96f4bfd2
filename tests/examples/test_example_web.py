from __future__ import annotations

from datetime import timedelta

import httpx

from examples.web_starlette import make_app
from trigger_compat.testing.plugin import TestQueue


async def test_post_enqueues_and_delete_dequeues(tc_queue: TestQueue) -> None:
    app = make_app(tc_queue.async_client())
    at = tc_queue.clock.now() + timedelta(minutes=5)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        response = await http.post("/events", json={"id": "evt_1", "at": at.isoformat()})
        assert response.status_code == 202
        tc_queue.assert_enqueued("deliverEvent", {"id": "evt_1"}, jobKey="event:evt_1", runAt=at)

        response = await http.post("/events", json={"id": 7, "at": at.isoformat()})
        assert response.status_code == 422  # the payload schema says id is a string

        response = await http.delete("/events/evt_1")
        assert response.json() == {"cancelled": True}
        tc_queue.assert_not_enqueued("deliverEvent")
