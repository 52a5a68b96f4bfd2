-- How many failed jobs match (task: null = any; updated before cutoff: null = any), and the
-- highest matching id: bulk actions stop there, so they never touch more than was counted.
select count(*) as total, max(id) as max_id
  from {schema}.jobs
 where locked_at is null and attempts >= max_attempts
   and (%(task)s::text is null or task_identifier = %(task)s::text)
   and (%(cutoff)s::timestamptz is null or updated_at <= %(cutoff)s::timestamptz)
