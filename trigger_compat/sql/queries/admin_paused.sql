-- The paused tasks and queues, oldest pause first.
select kind, name, paused_at from {schema}.paused order by paused_at, kind, name
