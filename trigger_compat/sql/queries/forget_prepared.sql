-- Forget the prepared statements of this session (see async_client.STALE_PLAN_SQLSTATES).
deallocate all
