-- retry_delay: how long a job waits after its attempt number `attempts` failed, when its task
-- gives no retry time of its own: exp(min(attempts, 10)) seconds (graphile-worker's backoff:
-- 2.7 s after the first failure, about 6 hours from the tenth on). Used by fail_job and
-- settle_jobs; language sql and immutable, so it is inlined into their statements.
create or replace function retry_delay(attempts integer) returns interval
language sql immutable
as $$
    select exp(least(retry_delay.attempts, 10)) * interval '1 second'
$$;
