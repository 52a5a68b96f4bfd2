-- depends: notify_jobs, retry_delay
-- settle_jobs: the outcomes of a batch of jobs run by worker_id, in one statement.
--   complete: the job succeeded and is deleted;
--   retry:    the attempt failed; retry at run_at, or after retry_delay(attempts) when null;
--   cancel:   the job failed for good now (attempts = max_attempts);
--   snooze:   run again at run_at without using an attempt;
--   delete:   the final attempt failed and the job is removed (on_final_failure = delete);
--   release:  the worker gave the job up (shutdown or timeout); retry at run_at or now.
-- A job cancelled while worker_id held it (a row in job_cancellations) is settled as
-- cancel with the cancellation's reason, whatever the outcome given.
-- Only jobs still locked by worker_id are touched. Returns the ids settled.
create or replace function settle_jobs(
    worker_id text,
    job_ids   bigint[],
    outcomes  text[],
    errors    text[],
    run_ats   timestamptz[],
    now       timestamptz default null
) returns setof bigint
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_now    timestamptz := coalesce(settle_jobs.now, pg_catalog.now());
    v_bad    text;
    v_notify boolean;
begin
    -- Wake the workers when a job comes back, or when a named queue gets a free place.
    v_notify := exists (select 1 from unnest(settle_jobs.outcomes) as o where o <> 'complete')
             or exists (select 1 from jobs j
                         where j.id = any(settle_jobs.job_ids) and j.queue_name is not null
                           and j.locked_by = settle_jobs.worker_id);

    select o into v_bad from unnest(settle_jobs.outcomes) as o
     where o not in ('complete', 'retry', 'cancel', 'snooze', 'delete', 'release') limit 1;
    if found then
        raise exception 'invalid outcome %', v_bad using errcode = '22023';
    end if;

    return query
    with given as (
        select * from unnest(settle_jobs.job_ids, settle_jobs.outcomes, settle_jobs.errors,
                             settle_jobs.run_ats) as s(id, outcome, error, run_at)
    ),
    -- A job cancelled while this worker held it (cancel_jobs) fails for good with the
    -- cancellation's reason, whatever its handler did.
    cancelled as (
        delete from job_cancellations c using given g
         where c.job_id = g.id and c.worker_id = settle_jobs.worker_id
        returning c.job_id, c.reason
    ),
    s as (
        select g.id,
               case when c.job_id is null then g.outcome else 'cancel' end as outcome,
               coalesce(c.reason, g.error) as error,
               g.run_at
          from given g left join cancelled c on c.job_id = g.id
    ),
    deleted as (
        delete from jobs j using s
         where j.id = s.id and s.outcome in ('complete', 'delete')
           and j.locked_by = settle_jobs.worker_id
        returning j.id
    ),
    updated as (
        update jobs j
           set last_error = case when s.outcome = 'snooze' then j.last_error else s.error end,
               run_at = case
                   when s.outcome = 'retry' then coalesce(
                       s.run_at,
                       greatest(v_now, j.run_at) + retry_delay(j.attempts))
                   when s.outcome in ('snooze', 'release') then coalesce(s.run_at, v_now)
                   else j.run_at end,
               attempts = case
                   when s.outcome = 'cancel' then j.max_attempts
                   when s.outcome = 'snooze' then greatest(j.attempts - 1, 0)
                   else j.attempts end,
               locked_at = null,
               locked_by = null,
               updated_at = pg_catalog.now()
          from s
         where j.id = s.id and s.outcome not in ('complete', 'delete')
           and j.locked_by = settle_jobs.worker_id
        returning j.id
    )
    select id from deleted union all select id from updated;

    if v_notify then
        perform notify_jobs(1);
    end if;
end
$$;
