-- graphile-worker's "migrations" table, as a read-only view that reports every migration of
-- graphile-worker 0.16.6 (1-18, breaking: 1, 3, 11, 13, 14, 16) as applied. Whoever reads it
-- finds a schema with nothing left to migrate: trigger.dev v2's GraphileMigrationHelperService
-- (every webapp start of the 0.16 era, whatever WORKER_ENABLED says) reads the newest id, finds
-- it past 10 and does nothing, and the graphile-worker runMigrations it calls next (0.13 or
-- 0.16.6) runs no migration. The view is not updatable, so no version of graphile-worker can
-- record a migration in the face, whatever its role. ts is the time of the query (the face
-- applies no migrations). {face}: the face schema (a quoted identifier).
create view {face}.migrations (id, ts, breaking) as
select m.id, pg_catalog.now(), m.id = any (array[1, 3, 11, 13, 14, 16])
  from pg_catalog.generate_series(1, 18) as m (id);
