-- One page of the jobs, newest first, filtered by task, queue, state (job_state), key and a
-- text in last_error (null = any). Keyset pagination: the jobs with id below before_id (null =
-- from the newest), at most row_limit; the primary key's order, never an OFFSET. job_state
-- decides the state; the two conditions on locked_at and attempts only restate it for running
-- and failed, so that those (usually few) jobs are found through their partial indexes.
select *
  from (select j.*,
               {schema}.job_state(j.locked_at, j.attempts, j.max_attempts, j.run_at, now())
                   as state
          from {schema}.jobs j
         where (%(before_id)s::bigint is null or j.id < %(before_id)s::bigint)
           and (%(task)s::text is null or j.task_identifier = %(task)s::text)
           and (%(queue)s::text is null or j.queue_name = %(queue)s::text)
           and (%(key)s::text is null or j.key = %(key)s::text)
           and (%(error)s::text is null
                or strpos(lower(j.last_error), lower(%(error)s::text)) > 0)
           and (%(state)s::text is distinct from 'running' or j.locked_at is not null)
           and (%(state)s::text is distinct from 'failed'
                or (j.attempts >= j.max_attempts and j.locked_at is null))) as s
 where (%(state)s::text is null or s.state = %(state)s::text)
 order by s.id desc
 limit %(row_limit)s::integer
