-- Memory for the sort and the row buffers of the move (this transaction only), so that a
-- million jobs are ordered and handed from the DELETE to the INSERT without spilling to disk.
select pg_catalog.set_config('work_mem', %(work_mem)s, true)
