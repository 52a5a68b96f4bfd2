-- Delete up to max_count job_queues rows of queues without any job and with the default
-- concurrency (functions/collect_job_queues.sql: safe against concurrent adds). Run it in a
-- transaction of its own: it holds a lock that keeps adds to named queues waiting until it
-- commits.
select {schema}.collect_job_queues(%(max_count)s::integer, %(lock_timeout_ms)s::integer)
           as deleted
