-- The recurring tasks the scheduler knows, and the last tick each one scheduled.
select identifier, known_since, last_execution, now() as db_now
  from {schema}.known_crontabs
 order by identifier
