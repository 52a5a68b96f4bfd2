-- depends: job_state, notify_jobs
-- add_unique_jobs: add jobs some of which are unique (trigger_compat.core.unique), in one
-- call. Parallel arrays, one element per job, as add_jobs (no job keys: a unique job cannot
-- have one); uniq_keys[i] is the job's unique key before its period (null: not unique),
-- unique_periods[i] its byPeriod in seconds (null: none), unique_states[i] the states of an
-- existing job that block it (comma-separated; 'completed' = the job is gone, within the
-- period). Returns one row per spec, in spec order: the id of the job it got (its new job,
-- or the existing job it matched), whether it matched one (deduplicated), and for a match only,
-- that job whole, as JSON (a new job is stored as specified: the client builds it from its
-- spec, as for add_jobs, so the unique path reads no job row it did not match).
--
-- Every spec gets an id from the jobs' identity in spec order, first, so that a new job's
-- id is known before it is inserted. Then one INSERT ... ON CONFLICT DO NOTHING claims the
-- keys (each key hashed with its period: SHA-256 of the key and the period's number since
-- the epoch; the first spec of a batch per key): a key nobody holds is claimed in that
-- statement, which is the whole cost of uniqueness in the common case (one index probe per
-- key). A key held already is locked (FOR UPDATE: a concurrent add of the same key waits
-- for the other's commit, so two adds never both insert) and its job looked at: if that job
-- is gone (and its period is over or 'completed' is not a blocking state) or in a state that
-- does not block, the key is taken over; else the spec gets that job and inserts nothing.
-- Keys are claimed and locked in hash order, so concurrent batches cannot deadlock. A later
-- spec of the batch with the same key gets the first one's job.
create or replace function add_unique_jobs(
    identifiers    text[],
    payloads       jsonb[],
    queue_names    text[],
    run_ats        timestamptz[],
    max_attempts   integer[],
    priorities     integer[],
    flags          jsonb[],
    uniq_keys      text[],
    unique_periods integer[],
    unique_states  text[],
    now            timestamptz default null
) returns table (spec integer, job_id bigint, deduplicated boolean, job jsonb)
language plpgsql volatile
set search_path from current
as $$
#variable_conflict use_column
declare
    v_now     timestamptz := coalesce(add_unique_jobs.now, pg_catalog.now());
    v_n       integer := coalesce(cardinality(add_unique_jobs.identifiers), 0);
    v_ids     bigint[];
    v_hashes  bytea[];
    v_expires timestamptz[];
    v_first   integer[];   -- per spec: the first spec of the batch with its key
    v_holder  bigint[];    -- per spec: the id of the job it gets
    v_dedup   boolean[];   -- per spec: it matched an existing job
    v_claimed bytea[];
    v_key     unique_keys;
    v_job     jobs;
    v_blocks  boolean;
    v_added   integer;
    r         record;
begin
    if v_n = 0 then
        return;
    end if;

    insert into job_queues (queue_name)
    select distinct q from unnest(add_unique_jobs.queue_names) as q where q is not null
     order by q
    on conflict do nothing;

    v_ids := array(select pg_catalog.nextval(pg_catalog.pg_get_serial_sequence('jobs', 'id'))
                     from generate_series(1, v_n));
    select array_agg(
               case when s.k is null then null
                    else pg_catalog.sha256(convert_to(
                             s.k || coalesce('@' || floor(extract(epoch from v_now) / s.p)::bigint, ''),
                             'UTF8')) end order by s.o),
           array_agg(
               case when s.k is null or s.p is null then null
                    else to_timestamp((floor(extract(epoch from v_now) / s.p) + 1) * s.p) end
               order by s.o)
      into v_hashes, v_expires
      from unnest(add_unique_jobs.uniq_keys, add_unique_jobs.unique_periods)
           with ordinality as s(k, p, o);
    v_first := array(
        select case when s.h is null then s.o::integer
                    else (min(s.o) over (partition by s.h))::integer end
          from unnest(v_hashes) with ordinality as s(h, o)
         order by s.o);
    v_holder := v_ids;
    v_dedup := array_fill(false, array[v_n]);

    -- Claim the free keys in one statement.
    with claimed as (
        insert into unique_keys (key_hash, job_id, expires_at)
        select v_hashes[o], v_ids[o], v_expires[o]
          from generate_series(1, v_n) as o
         where v_hashes[o] is not null and v_first[o] = o
         order by v_hashes[o]
        on conflict (key_hash) do nothing
        returning key_hash
    )
    select coalesce(array_agg(c.key_hash), '{}') into v_claimed from claimed as c;

    -- The keys held already: keep their job, or take them over.
    for r in
        select o from generate_series(1, v_n) as o
         where v_hashes[o] is not null and v_first[o] = o and not (v_hashes[o] = any(v_claimed))
         order by v_hashes[o]
    loop
        loop
            select * into v_key from unique_keys u where u.key_hash = v_hashes[r.o] for update;
            if not found then
                insert into unique_keys (key_hash, job_id, expires_at)
                values (v_hashes[r.o], v_ids[r.o], v_expires[r.o])
                on conflict (key_hash) do nothing;
                exit when found;
                continue;  -- inserted by another transaction meanwhile: lock that row
            end if;
            select * into v_job from jobs j where j.id = v_key.job_id;
            if found then
                v_blocks := job_state(v_job.locked_at, v_job.attempts, v_job.max_attempts,
                                      v_job.run_at, v_now)
                            = any(string_to_array(add_unique_jobs.unique_states[r.o], ','));
            else
                v_blocks := 'completed' = any(string_to_array(add_unique_jobs.unique_states[r.o], ','))
                            and v_key.expires_at > v_now;
            end if;
            if v_blocks then
                v_holder[r.o] := v_key.job_id;
                v_dedup[r.o] := true;
            else
                update unique_keys u set job_id = v_ids[r.o], expires_at = v_expires[r.o]
                 where u.key_hash = v_hashes[r.o];
            end if;
            exit;
        end loop;
    end loop;

    -- A later spec with the same key as an earlier one of the batch gets that one's job.
    for r in select o from generate_series(1, v_n) as o where v_first[o] <> o loop
        v_holder[r.o] := v_holder[v_first[r.o]];
        v_dedup[r.o] := true;
    end loop;

    insert into jobs (id, task_identifier, payload, queue_name, run_at, max_attempts,
                      priority, flags)
    overriding system value
    select v_ids[s.o], s.identifier, coalesce(s.payload, '{}'::jsonb), s.queue_name,
           coalesce(s.run_at, v_now), coalesce(s.max_attempts, 25), coalesce(s.priority, 0),
           s.flags
      from unnest(add_unique_jobs.identifiers, add_unique_jobs.payloads,
                  add_unique_jobs.queue_names, add_unique_jobs.run_ats,
                  add_unique_jobs.max_attempts, add_unique_jobs.priorities,
                  add_unique_jobs.flags) with ordinality
           as s(identifier, payload, queue_name, run_at, max_attempts, priority, flags, o)
     where not v_dedup[s.o]
     order by s.o;
    get diagnostics v_added = row_count;
    if v_added > 0 then
        perform notify_jobs(v_added);
    end if;

    -- A matched job that completed and is gone: its id, with this spec's values.
    return query
        select s.o::integer, v_holder[s.o], v_dedup[s.o],
               case when v_dedup[s.o] then coalesce(to_jsonb(j), jsonb_build_object(
                   'id', v_holder[s.o], 'task_identifier', s.identifier,
                   'queue_name', s.queue_name, 'payload', coalesce(s.payload, '{}'::jsonb),
                   'priority', coalesce(s.priority, 0), 'run_at', coalesce(s.run_at, v_now),
                   'attempts', 0, 'max_attempts', coalesce(s.max_attempts, 25),
                   'last_error', null, 'key', null, 'revision', 0, 'flags', s.flags,
                   'locked_at', null, 'locked_by', null, 'created_at', v_now,
                   'updated_at', v_now)) end
          from unnest(add_unique_jobs.identifiers, add_unique_jobs.payloads,
                      add_unique_jobs.queue_names, add_unique_jobs.run_ats,
                      add_unique_jobs.max_attempts, add_unique_jobs.priorities,
                      add_unique_jobs.flags) with ordinality
               as s(identifier, payload, queue_name, run_at, max_attempts, priority, flags, o)
          left join jobs j on v_dedup[s.o] and j.id = v_holder[s.o]
         order by s.o;
end
$$;
