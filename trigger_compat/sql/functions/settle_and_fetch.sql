-- depends: fetch_jobs, settle_jobs
-- settle_and_fetch: write a batch of outcomes and fetch the next jobs, in one round trip and
-- one commit (the hot path of a busy worker).
create or replace function settle_and_fetch(
    worker_id        text,
    job_ids          bigint[],
    outcomes         text[],
    errors           text[],
    run_ats          timestamptz[],
    max_jobs         integer,
    task_identifiers text[]      default null,
    forbidden_flags  text[]      default null,
    now              timestamptz default null
) returns setof jobs
language plpgsql volatile
set search_path from current
as $$
begin
    if cardinality(settle_and_fetch.job_ids) > 0 then
        perform settle_jobs(settle_and_fetch.worker_id, settle_and_fetch.job_ids,
                            settle_and_fetch.outcomes, settle_and_fetch.errors,
                            settle_and_fetch.run_ats, settle_and_fetch.now);
    end if;
    return query select * from fetch_jobs(settle_and_fetch.worker_id, settle_and_fetch.max_jobs,
                                          settle_and_fetch.task_identifiers,
                                          settle_and_fetch.forbidden_flags, settle_and_fetch.now);
end
$$;
