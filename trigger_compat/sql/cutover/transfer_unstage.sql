-- Drop the temporary table of a transfer (one made earlier in the same transaction, or this
-- one once counted).
drop table if exists pg_temp.graphile_transfer
