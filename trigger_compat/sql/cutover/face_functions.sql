-- The graphile-worker face: functions with graphile-worker's names, argument names, types and
-- defaults (0.13 sql/000004 and 000007; 0.16.6 sql/000011-000018) that act on the jobs of a
-- trigger-compat schema by calling that schema's own functions, so job keys, wake-ups and
-- every other rule are exactly those of Client.add_job. {face}: the face schema, {target}: the
-- trigger-compat schema, {row}: the job row type of the chosen shape (face_row_<shape>.sql),
-- built by {face}._job_row.
--
-- Each function runs with its owner's rights (SECURITY DEFINER), so a role granted EXECUTE on
-- the face needs no privilege on the trigger-compat schema; its search_path is pinned and every
-- name is schema-qualified, so a caller cannot substitute objects of its own.

-- graphile-worker 0.16's add_jobs argument type (0.14+; shape 0.13 has it too, as an extension).
create type {face}.job_spec as (
    identifier   text,
    payload      json,
    queue_name   text,
    run_at       timestamptz,
    max_attempts smallint,
    job_key      text,
    priority     smallint,
    flags        text[]
);

-- add_job: trigger-compat's add_job (json payload stored as jsonb; defaults: payload an empty object, run_at
-- now(), max_attempts 25, priority 0, job_key_mode replace).
create function {face}.add_job(
    identifier   text,
    payload      json        default null,
    queue_name   text        default null,
    run_at       timestamptz default null,
    max_attempts integer     default null,
    job_key      text        default null,
    priority     integer     default null,
    flags        text[]      default null,
    job_key_mode text        default 'replace'
) returns {row}
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
    select r.*
      from {target}.add_job(add_job.identifier, add_job.payload::jsonb, add_job.queue_name,
                            add_job.run_at, add_job.max_attempts, add_job.job_key,
                            add_job.priority, add_job.flags, add_job.job_key_mode) as j
           cross join lateral {face}._job_row(j) as r
$$;

-- add_jobs: trigger-compat's add_jobs, every spec in replace mode (preserve_run_at when
-- job_key_preserve_run_at), as graphile-worker's add_jobs.
create function {face}.add_jobs(
    specs {face}.job_spec[],
    job_key_preserve_run_at boolean default false
) returns setof {row}
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
    select r.*
      from (select coalesce(array_agg(s.identifier order by s.ord), array[]::text[]) as identifiers,
                   coalesce(array_agg(s.payload::jsonb order by s.ord), array[]::jsonb[]) as payloads,
                   coalesce(array_agg(s.queue_name order by s.ord), array[]::text[]) as queue_names,
                   coalesce(array_agg(s.run_at order by s.ord), array[]::timestamptz[]) as run_ats,
                   coalesce(array_agg(s.max_attempts::integer order by s.ord), array[]::integer[])
                       as max_attempts,
                   coalesce(array_agg(s.job_key order by s.ord), array[]::text[]) as job_keys,
                   coalesce(array_agg(s.priority::integer order by s.ord), array[]::integer[])
                       as priorities,
                   coalesce(array_agg({target}.flags_object(s.flags) order by s.ord),
                            array[]::jsonb[]) as flags,
                   coalesce(array_agg(null::text order by s.ord), array[]::text[]) as modes
              from unnest(add_jobs.specs) with ordinality
                   as s(identifier, payload, queue_name, run_at, max_attempts, job_key,
                        priority, flags, ord)) as a
           cross join lateral {target}.add_jobs(a.identifiers, a.payloads, a.queue_names,
                                                a.run_ats, a.max_attempts, a.job_keys,
                                                a.priorities, a.flags, a.modes,
                                                coalesce(add_jobs.job_key_preserve_run_at, false))
                 as j
           cross join lateral {face}._job_row(j) as r
$$;

-- remove_job: trigger-compat's remove_job (a waiting, retrying or failed job is deleted; a
-- running one loses its key and its remaining attempts). An unknown key gives a null row,
-- which "select * from remove_job(...)" shows as one row of nulls, as graphile-worker does.
create function {face}.remove_job(job_key text) returns {row}
language sql volatile strict security definer
set search_path = pg_catalog, pg_temp
as $$
    select r.*
      from {target}.remove_job(remove_job.job_key) as j
           cross join lateral {face}._job_row(j) as r
     limit 1
$$;

-- complete_jobs: the jobs among job_ids that no worker holds are deleted and returned.
-- trigger-compat's complete_jobs deletes whatever it is given, so the unlocked jobs are
-- picked (and locked, so no worker takes one meanwhile) first.
create function {face}.complete_jobs(job_ids bigint[]) returns setof {row}
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_jobs {target}.jobs[];
    v_done bigint[];
begin
    v_jobs := array(select j from {target}.jobs as j
                     where j.id = any(complete_jobs.job_ids) and j.locked_at is null
                     order by j.id
                       for update);
    v_done := array(select d.id
                      from {target}.complete_jobs(array(select (x).id from unnest(v_jobs) as x))
                           as d(id));
    return query
        select r.*
          from pg_catalog.generate_subscripts(v_jobs, 1) as i
               cross join lateral {face}._job_row(v_jobs[i]) as r
         where (v_jobs[i]).id = any(v_done)
         order by i;
end
$$;

-- permanently_fail_jobs: trigger-compat's (unlocked jobs use up their attempts; message
-- default 'Manually marked as failed').
create function {face}.permanently_fail_jobs(job_ids bigint[], error_message text default null)
returns setof {row}
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
    select r.*
      from {target}.permanently_fail_jobs(permanently_fail_jobs.job_ids,
                                          permanently_fail_jobs.error_message) as j
           cross join lateral {face}._job_row(j) as r
$$;

-- reschedule_jobs: trigger-compat's (each non-null argument overwrites the column of the
-- unlocked jobs).
create function {face}.reschedule_jobs(
    job_ids      bigint[],
    run_at       timestamptz default null,
    priority     integer     default null,
    attempts     integer     default null,
    max_attempts integer     default null
) returns setof {row}
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
    select r.*
      from {target}.reschedule_jobs(reschedule_jobs.job_ids, reschedule_jobs.run_at,
                                    reschedule_jobs.priority, reschedule_jobs.attempts,
                                    reschedule_jobs.max_attempts) as j
           cross join lateral {face}._job_row(j) as r
$$;

-- force_unlock_workers: trigger-compat's (the jobs those workers hold are released).
create function {face}.force_unlock_workers(worker_ids text[]) returns void
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
    select from {target}.force_unlock_workers(force_unlock_workers.worker_ids)
$$;

revoke execute on all functions in schema {face} from public;
