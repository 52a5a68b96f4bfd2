-- Completed and failed runs per minute over the last %(minutes)s minutes (every minute listed,
-- zero when nothing ran), oldest first; reads job_stats by its primary key only.
with span as (
    select date_trunc('minute', now()) as last_minute
),
minutes as (
    select generate_series(span.last_minute - make_interval(mins => %(minutes)s::integer - 1),
                           span.last_minute, interval '1 minute') as minute
      from span
),
sums as (
    select s.minute, sum(s.completed)::bigint as completed, sum(s.failed)::bigint as failed
      from {schema}.job_stats s, span
     where s.minute > span.last_minute - make_interval(mins => %(minutes)s::integer)
     group by s.minute
)
select m.minute, coalesce(sums.completed, 0) as completed, coalesce(sums.failed, 0) as failed
  from minutes m left join sums on sums.minute = m.minute
 order by m.minute
