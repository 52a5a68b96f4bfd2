-- The schedule (cron expression) of each recurring task as `catalog apply` last recorded it,
-- so that `catalog diff` can tell a changed schedule from an unchanged one and a renamed
-- recurring task from a new one. Null: not recorded yet (registered by a worker only).
alter table known_crontabs add column schedule text
    constraint known_crontabs_schedule_check check (length(schedule) between 1 and 256);
