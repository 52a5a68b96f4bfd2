-- __reporter: jobs added in (start_at, end_at) that are still in the table, and all jobs,
-- in one pass over the table (no index on created_at: it would cost every add_job).
select count(*) filter (where created_at > %(start_at)s and created_at < %(end_at)s)
           as added_count,
       count(*) as total_count
  from {schema}.jobs
