-- Jobs filtered by task, queue and state (null = any), in id order, at most row_limit.
select *
  from (select j.*,
               {schema}.job_state(j.locked_at, j.attempts, j.max_attempts, j.run_at, now())
                   as state
          from {schema}.jobs j
         where (%(task)s::text is null or j.task_identifier = %(task)s::text)
           and (%(queue)s::text is null or j.queue_name = %(queue)s::text)) as s
 where (%(state)s::text is null or s.state = %(state)s::text)
 order by s.id
 limit %(row_limit)s::integer
