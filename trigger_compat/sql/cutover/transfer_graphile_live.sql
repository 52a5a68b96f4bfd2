-- graphile-worker jobs that look held by a live worker: locked less than graphile-worker's
-- fixed lock timeout (4 hours) ago. Older locks are stale: graphile-worker itself would hand
-- those jobs out again.
select count(*)::bigint as jobs,
       max(j.locked_at) as newest,
       (array_agg(distinct j.locked_by))[1:3] as workers
  from {jobs} as j
 where j.locked_at is not null
   and j.locked_at > pg_catalog.now() - interval '4 hours'
