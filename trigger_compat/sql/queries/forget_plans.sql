-- Forget the plans this session cached, PL/pgSQL functions' included, so that the next run of
-- each statement plans it against the current row types (see async_client.STALE_PLAN_SQLSTATES).
discard plans
