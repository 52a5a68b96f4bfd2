-- job_state: the state of a job, the one rule every view of the jobs uses (admin commands,
-- metrics). Each job is in exactly one state:
--   running    a worker holds it (locked_at is set);
--   failed     no attempt left (attempts >= max_attempts);
--   waiting    ready to run now (run_at <= now);
--   retrying   a failed attempt, waiting for its retry delay (attempts > 0);
--   scheduled  not run yet, due later.
-- language sql and immutable, so a query that calls it gets the expression inlined.
create or replace function job_state(
    locked_at    timestamptz,
    attempts     integer,
    max_attempts integer,
    run_at       timestamptz,
    now          timestamptz
) returns text
language sql immutable
as $$
    select case when job_state.locked_at is not null then 'running'
                when job_state.attempts >= job_state.max_attempts then 'failed'
                when job_state.run_at <= job_state.now then 'waiting'
                when job_state.attempts > 0 then 'retrying'
                else 'scheduled' end
$$;
