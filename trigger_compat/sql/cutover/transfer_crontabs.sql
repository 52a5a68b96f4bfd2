-- Carry the recurring tasks' positions over: every identifier the sending side knows is known
-- on the receiving side, since the earlier of the two known_since, with the later of the two
-- last_execution (the last tick scheduled): a tick one side already scheduled is never
-- scheduled again by the other, and a backfill starts where the last one stopped. Rows that
-- already say so are left alone. Returns the identifiers written.
insert into {target} as k (identifier, known_since, last_execution)
select c.identifier, c.known_since, c.last_execution
  from {source} as c
 order by c.identifier
on conflict (identifier) do update
   set known_since = least(k.known_since, excluded.known_since),
       last_execution = greatest(k.last_execution, excluded.last_execution)
 where k.known_since > excluded.known_since
    or k.last_execution is distinct from greatest(k.last_execution, excluded.last_execution)
returning k.identifier
