-- The last migration graphile-worker recorded in its schema: 1-10 are 0.13's (table jobs with
-- the task and queue names inline), 11-15 0.14/0.15's (jobs, tasks, job_queues), 16 and later
-- 0.16's (_private_jobs, _private_tasks, _private_job_queues).
select max(id)::integer as version from {migrations}
