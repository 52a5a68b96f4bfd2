from trigger_compat import AsyncClient, Client


def test_add_and_fetch(client: Client) -> None:
    job = client.add_job("hello", {"x": 1})
    assert job.payload == {"x": 1}
    [fetched] = client.fetch_jobs("worker-1")
    assert fetched.id == job.id and fetched.attempts == 1


async def test_async_add_and_fetch(aclient: AsyncClient) -> None:
    job = await aclient.add_job("hello", {"x": 1})
    [fetched] = await aclient.fetch_jobs("worker-1")
    assert fetched.id == job.id and fetched.attempts == 1
