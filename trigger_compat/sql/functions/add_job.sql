-- depends: flags_object, job_key_mode_valid, notify_jobs, raise_invalid_job_key_mode
-- add_job: add one job (graphile-worker's SQL API, same named arguments) with graphile-worker
-- 0.16 job-key semantics, without the lost-row race (graphile issue #580): a keyed add always
-- returns a row. wake => false leaves the wake-up NOTIFY to the caller (add_jobs sends one for
-- its whole batch); an unsafe_dedupe add that found its job already there wakes nobody.
create or replace function add_job(
    identifier   text,
    payload      jsonb       default null,
    queue_name   text        default null,
    run_at       timestamptz default null,
    max_attempts integer     default null,
    job_key      text        default null,
    priority     integer     default null,
    flags        text[]      default null,
    job_key_mode text        default 'replace',
    now          timestamptz default null,
    wake         boolean     default true
) returns jobs
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_job      jobs;
    v_payload  jsonb       := coalesce(add_job.payload, '{}'::jsonb);
    v_run_at   timestamptz := coalesce(add_job.run_at, add_job.now, pg_catalog.now());
    v_max      integer     := coalesce(add_job.max_attempts, 25);
    v_priority integer     := coalesce(add_job.priority, 0);
    v_flags    jsonb       := case when add_job.flags is not null
                                   then flags_object(add_job.flags) end;
    v_mode     text        := coalesce(add_job.job_key_mode, 'replace');
begin
    if not job_key_mode_valid(v_mode) then
        perform raise_invalid_job_key_mode(v_mode);
    end if;

    if add_job.queue_name is not null then
        insert into job_queues (queue_name) values (add_job.queue_name) on conflict do nothing;
    end if;

    if add_job.job_key is null then
        insert into jobs (task_identifier, payload, queue_name, run_at, max_attempts, priority, flags)
        values (add_job.identifier, v_payload, add_job.queue_name, v_run_at, v_max, v_priority, v_flags)
        returning * into v_job;
        if add_job.wake then
            perform notify_jobs(1);
        end if;
        return v_job;
    end if;

    if v_mode = 'unsafe_dedupe' then
        insert into jobs (task_identifier, payload, queue_name, run_at, max_attempts, key, priority, flags)
        values (add_job.identifier, v_payload, add_job.queue_name, v_run_at, v_max, add_job.job_key,
                v_priority, v_flags)
        on conflict (key) do update
            set revision = jobs.revision + 1, updated_at = pg_catalog.now()
        returning * into v_job;
        if add_job.wake and v_job.revision = 0 then
            perform notify_jobs(1);
        end if;
        return v_job;
    end if;

    loop
        -- An available job holds the key: update it in place.
        update jobs
           set task_identifier = add_job.identifier,
               payload = case when jsonb_typeof(jobs.payload) = 'array'
                               and jsonb_typeof(v_payload) = 'array'
                              then jobs.payload || v_payload else v_payload end,
               queue_name = add_job.queue_name,
               run_at = case when v_mode = 'preserve_run_at' and jobs.attempts = 0
                             then jobs.run_at else v_run_at end,
               max_attempts = v_max,
               priority = v_priority,
               flags = v_flags,
               attempts = 0,
               last_error = null,
               revision = jobs.revision + 1,
               updated_at = pg_catalog.now()
         where key = add_job.job_key and is_available
        returning * into v_job;
        if found then
            if add_job.wake then
                perform notify_jobs(1);
            end if;
            return v_job;
        end if;

        -- A running or permanently failed job holds the key: it keeps running (or stays
        -- failed) without its key and can no longer retry.
        update jobs
           set key = null, attempts = jobs.max_attempts, updated_at = pg_catalog.now()
         where key = add_job.job_key and not is_available;

        insert into jobs (task_identifier, payload, queue_name, run_at, max_attempts, key, priority, flags)
        values (add_job.identifier, v_payload, add_job.queue_name, v_run_at, v_max, add_job.job_key,
                v_priority, v_flags)
        on conflict (key) do nothing
        returning * into v_job;
        if found then
            if add_job.wake then
                perform notify_jobs(1);
            end if;
            return v_job;
        end if;
        -- Another transaction inserted the key meanwhile: go round and update that row.
    end loop;
end
$$;
