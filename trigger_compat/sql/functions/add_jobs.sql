-- depends: job_key_mode_valid, notify_jobs, raise_invalid_job_key_mode
-- add_jobs: many jobs in one call. Parallel arrays, one element per job; modes: per job, null
-- = replace; job_key_preserve_run_at turns every replace into preserve_run_at (graphile's
-- batch flag). Ids follow the specs, as in graphile-worker's add_jobs (one INSERT in spec
-- order); a job updated in place keeps its id, and an unsafe_dedupe insert that meets its key
-- uses up an id, as in add_job. A batch without keys is one plain INSERT.
--
-- Keyed jobs are stored set-based. A batch first takes transaction-scoped advisory locks over
-- its keys (16 per schema, each key hashed to one, taken in order), so batches sharing keys
-- queue up on those locks before touching any row and never deadlock; then it stores all its
-- keyed specs with a few statements whatever their number, in a loop that ends when every key
-- is stored (nearly always after one round):
--   1. replace / preserve_run_at, one UPDATE: an available job holding the key is updated
--      in place (graphile-worker 0.16: arrays concatenate, run_at kept in preserve_run_at
--      mode while attempts = 0, attempts and last_error reset, revision + 1); a running or
--      permanently failed one loses the key and its remaining attempts (it keeps running,
--      or stays failed, and can no longer retry);
--   2. one INSERT, in spec order, of the unkeyed specs (first round only) and of the keys
--      not stored yet, ON CONFLICT (key): an unsafe_dedupe spec then keeps the existing job
--      and bumps its revision, as add_job does; a replace spec whose key another
--      transaction's add_job inserted after step 1 is left for the next round, which
--      updates (or detaches) that row. No keyed spec is ever dropped.
-- Single add_job calls take no advisory lock: one call touches one key, so it cannot close
-- a lock cycle with a batch. Named queues are inserted in name order for the same reason.
--
-- enable_seqscan = off: every statement here reads jobs by key or by id, through an index
-- condition (key = any(...), id = any(...)). After a few calls a session plans them once,
-- generically, with the statistics of that moment; planned on a small or just truncated
-- table, the UPDATE of step 1 read the whole table and compared every row's key with every
-- batch key: its time grew with the table (1 s a batch at 9,000 rows), where an index scan
-- costs one probe per key at any size.
create or replace function add_jobs(
    identifiers   text[],
    payloads      jsonb[],
    queue_names   text[],
    run_ats       timestamptz[],
    max_attempts  integer[],
    job_keys      text[],
    priorities    integer[],
    flags         jsonb[],
    modes         text[],
    job_key_preserve_run_at boolean default false,
    now           timestamptz default null
) returns setof jobs
language plpgsql volatile
set search_path from current
set enable_seqscan = off
as $$
#variable_conflict use_column
declare
    v_now   timestamptz := coalesce(add_jobs.now, pg_catalog.now());
    v_bad   text;
    v_left   text[];          -- keys not stored yet
    v_dedupe text[];          -- the keys of unsafe_dedupe specs
    v_rows   jobs[];
    v_ids    bigint[];        -- the rows an INSERT stored
    v_first  boolean := true; -- the first round also inserts the unkeyed specs
    v_all    boolean := true; -- v_left is still every key of the batch (nothing stored yet)
    v_stored integer;         -- keyed rows a statement stored
begin
    select m into v_bad from unnest(add_jobs.modes) as m
     where not job_key_mode_valid(m) limit 1;
    if found then
        perform raise_invalid_job_key_mode(v_bad);
    end if;

    insert into job_queues (queue_name)
    select distinct q from unnest(add_jobs.queue_names) as q where q is not null
     order by q
    on conflict do nothing;

    if not exists (select 1 from unnest(add_jobs.job_keys) as k where k is not null) then
        return query
            insert into jobs (task_identifier, payload, queue_name, run_at, max_attempts,
                              priority, flags)
            select s.identifier, coalesce(s.payload, '{}'::jsonb), s.queue_name,
                   coalesce(s.run_at, v_now), coalesce(s.max_attempts, 25),
                   coalesce(s.priority, 0), s.flags
              from unnest(add_jobs.identifiers, add_jobs.payloads, add_jobs.queue_names,
                          add_jobs.run_ats, add_jobs.max_attempts, add_jobs.priorities,
                          add_jobs.flags) with ordinality
                   as s(identifier, payload, queue_name, run_at, max_attempts, priority,
                        flags, ord)
             order by s.ord
            returning *;
    else
        -- Batches sharing keys queue up here, before touching a row: the keys are spread
        -- over 16 advisory locks (per schema), taken in order. Not one lock per key: a batch
        -- of 30,000 keys would overflow PostgreSQL's lock table at its default size.
        perform pg_catalog.pg_advisory_xact_lock(
                    pg_catalog.hashtext(current_schema() || ':job_keys'), l.bucket)
           from (select distinct pg_catalog.hashtext(k) & 15 as bucket
                   from unnest(add_jobs.job_keys) as k
                  where k is not null
                  order by 1) as l;

        v_dedupe := array(
            select k from unnest(add_jobs.job_keys, add_jobs.modes) as s(k, m)
             where k is not null and m = 'unsafe_dedupe');
        -- While v_all holds, "every keyed spec" stands for "s.job_key = any(v_left)": after a
        -- few calls a session plans these statements once, generically, and there the test
        -- scans the whole array for every spec (1,000 keys: a million comparisons, most of
        -- a batch's time); later rounds have few keys left.
        v_left := array(select k from unnest(add_jobs.job_keys) as k where k is not null);

        loop
            if cardinality(v_left) > 0 then
                -- 1. replace / preserve_run_at: the job holding the key is updated in place when it
                --    is available; a running or permanently failed one keeps running (or stays
                --    failed) without its key and can no longer retry. One statement does both; the
                --    rows it returns with their key are the ones stored.
                with specs as (
                    select s.*, case when coalesce(s.mode, 'replace') = 'replace'
                                          and add_jobs.job_key_preserve_run_at
                                     then 'preserve_run_at' else coalesce(s.mode, 'replace') end
                                as settled_mode
                      from unnest(add_jobs.identifiers, add_jobs.payloads, add_jobs.queue_names,
                                  add_jobs.run_ats, add_jobs.max_attempts, add_jobs.job_keys,
                                  add_jobs.priorities, add_jobs.flags, add_jobs.modes)
                           as s(identifier, payload, queue_name, run_at, max_attempts, job_key,
                                priority, flags, mode)
                     where ((v_all and s.job_key is not null) or s.job_key = any(v_left))
                       and s.mode is distinct from 'unsafe_dedupe'
                ), updated as (
                    update jobs
                       set task_identifier = case when jobs.is_available then s.identifier
                                                  else jobs.task_identifier end,
                           payload = case when not jobs.is_available then jobs.payload
                                          when jsonb_typeof(jobs.payload) = 'array'
                                           and jsonb_typeof(coalesce(s.payload, '{}'::jsonb)) = 'array'
                                          then jobs.payload || s.payload
                                          else coalesce(s.payload, '{}'::jsonb) end,
                           queue_name = case when jobs.is_available then s.queue_name
                                             else jobs.queue_name end,
                           run_at = case when not jobs.is_available then jobs.run_at
                                         when s.settled_mode = 'preserve_run_at' and jobs.attempts = 0
                                         then jobs.run_at else coalesce(s.run_at, v_now) end,
                           max_attempts = case when jobs.is_available
                                               then coalesce(s.max_attempts, 25)
                                               else jobs.max_attempts end,
                           priority = case when jobs.is_available then coalesce(s.priority, 0)
                                           else jobs.priority end,
                           flags = case when jobs.is_available then s.flags else jobs.flags end,
                           attempts = case when jobs.is_available then 0 else jobs.max_attempts end,
                           last_error = case when jobs.is_available then null else jobs.last_error end,
                           revision = case when jobs.is_available then jobs.revision + 1
                                           else jobs.revision end,
                           key = case when jobs.is_available then jobs.key end,
                           updated_at = pg_catalog.now()
                      from specs s
                     where jobs.key = any(v_left) and jobs.key = s.job_key
                    returning jobs.*
                )
                select coalesce(array_agg(u), '{}') into v_rows
                  from updated as u where u.key is not null;
                if cardinality(v_rows) > 0 then
                    return query select * from unnest(v_rows);
                    v_left := array(select k from unnest(v_left) as k
                                     except select (r).key from unnest(v_rows) as r
                                     order by 1);
                    v_all := false;
                end if;
            end if;

            -- 2. Insert the rest in spec order: the unkeyed specs (in the first round) and
            --    the keys not stored yet. On a conflict, an unsafe_dedupe spec keeps the job
            --    there; a replace spec (its key inserted meanwhile) goes round again.
            with added as (
                insert into jobs (task_identifier, payload, queue_name, run_at, max_attempts,
                                  key, priority, flags)
                select s.identifier, coalesce(s.payload, '{}'::jsonb), s.queue_name,
                       coalesce(s.run_at, v_now), coalesce(s.max_attempts, 25), s.job_key,
                       coalesce(s.priority, 0), s.flags
                  from unnest(add_jobs.identifiers, add_jobs.payloads, add_jobs.queue_names,
                              add_jobs.run_ats, add_jobs.max_attempts, add_jobs.job_keys,
                              add_jobs.priorities, add_jobs.flags) with ordinality
                       as s(identifier, payload, queue_name, run_at, max_attempts, job_key,
                            priority, flags, ord)
                 where (v_first and s.job_key is null) or (v_all and s.job_key is not null)
                    or s.job_key = any(v_left)
                 order by s.ord
                on conflict (key) do update
                    set revision = jobs.revision + 1, updated_at = pg_catalog.now()
                    where excluded.key = any(v_dedupe)
                returning *
            )
            -- Only the ids, in insertion (spec) order: the rows, read back by primary key,
            -- cost less than an array of them (about a third of the batch's time).
            select coalesce(array_agg(a.id), '{}'), count(a.key) into v_ids, v_stored
              from added as a;
            return query select j.* from jobs as j
                           join unnest(v_ids) with ordinality as u(id, n) on u.id = j.id
                          where j.id = any(v_ids)
                          order by u.n;
            if v_stored = cardinality(v_left) then
                v_left := '{}';  -- every key stored (the keys of a batch are distinct)
            else
                v_left := array(select k from unnest(v_left) as k
                                 except select j.key from jobs as j where j.id = any(v_ids)
                                 order by 1);
            end if;
            v_all := false;
            v_first := false;
            exit when cardinality(v_left) = 0;
        end loop;
    end if;

    if cardinality(add_jobs.identifiers) > 0 then
        perform notify_jobs(cardinality(add_jobs.identifiers));
    end if;
end
$$;
