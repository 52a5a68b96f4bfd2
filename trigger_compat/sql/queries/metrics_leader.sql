-- Whether this session reports the database gauges of the schema's metrics: the first to take
-- this session-level advisory lock keeps it, and with it the task, as long as its connection
-- lives (taking it again on the same session only counts it once more).
select pg_try_advisory_lock(%(lock_class)s::integer, hashtext(%(schema_name)s)) as leader
