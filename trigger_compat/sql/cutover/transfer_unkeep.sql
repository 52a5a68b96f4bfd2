-- Drop the temporary table of jobs kept back (one made earlier in the same transaction).
drop table if exists pg_temp.graphile_transfer_kept
