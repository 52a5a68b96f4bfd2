-- Switch one of graphile-worker 0.13's row triggers on jobs off or on ({action}: disable or
-- enable) inside the transfer's transaction. Takes the SHARE ROW EXCLUSIVE lock the
-- transfer already holds; switched back on before the commit, so no other transaction ever
-- sees it off.
alter table {jobs} {action} trigger {trigger}
