// Drives a graphile-worker face from Node, the way trigger.dev v2 and graphile-worker do, for
// tests/graphile/test_face.py. One request per stdin line (JSON), one answer per stdout line.
//
//   {"op": "zw_add", "schema", "shape", "params": [9 values], "conn"?}
//       ZodWorker's enqueue statement, verbatim, then its job-row parse (below).
//   {"op": "zw_remove", "schema", "shape", "jobKey", "conn"?}
//       ZodWorker's dequeue statement, verbatim, then its job-row parse.
//   {"op": "utils_add", "version", "schema", "identifier", "payload", "spec"}
//       graphile-worker's own addJob (helpers.makeAddJob, the function WorkerUtils.addJob is).
//   {"op": "utils", "version", "schema", "method", "args"}
//       the statements of WorkerUtils.completeJobs / permanentlyFailJobs / rescheduleJobs /
//       forceUnlockWorkers of that version.
//   {"op": "migration_helper", "schema", "conn"?}
//       the statements of trigger.dev's GraphileMigrationHelperService (webapp start, 0.16 era)
//       and its decision: "none" (nothing to do), or "notify" (it would NOTIFY
//       trigger:graphile:migrate and delay the start).
//   {"op": "run_migrations", "version", "schema", "conn"?}
//       graphile-worker's own runMigrations of that version (what that service calls next);
//       answers what it logged.
//
// makeWorkerUtils() cannot be pointed at a face: in both versions it runs graphile-worker's
// migrations on its schema first (0.13 lib.getUtilsAndReleasersFromOptions calls migrate;
// 0.16 likewise), which would try to create graphile's tables and functions there. So addJob
// is graphile's own makeAddJob (what WorkerUtils.addJob is, built without the migration), and
// the other WorkerUtils methods, which are one statement each inside makeWorkerUtils, are their
// statements as written there. Neither version's WorkerUtils has a removeJob; remove_job is
// driven by ZodWorker's statement.
"use strict";

const readline = require("readline");
const { Pool } = require("pg");

const pools = new Map();
function pool(conn) {
  const url = conn || process.env.DATABASE_URL;
  if (!pools.has(url)) {
    pools.set(url, new Pool({ connectionString: url, max: 2 }));
  }
  return pools.get(url);
}

function quoteIdent(name) {
  return '"' + String(name).replace(/"/g, '""') + '"';
}

// --- ZodWorker's job-row schemas (trigger.dev v2 zodWorker.server.ts GraphileJobSchema), as
// plain checks with zod's semantics: z.coerce.string() is String(v); z.coerce.date() is
// new Date(v) and must be a valid date; z.number() a number that is not NaN; nullable() also
// takes null (but not undefined: a missing column fails); z.record(z.boolean()) a non-array
// object whose values are booleans; z.unknown() anything. The object keeps only its keys.
function isNumber(v) {
  return typeof v === "number" && !Number.isNaN(v);
}
function coerceDate(v) {
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
const FIELD = {
  string: (v) => (typeof v === "string" ? { ok: true, v } : { ok: false }),
  number: (v) => (isNumber(v) ? { ok: true, v } : { ok: false }),
  coerceString: (v) => ({ ok: true, v: String(v) }),
  coerceDate: (v) => {
    const d = coerceDate(v);
    return d ? { ok: true, v: d } : { ok: false };
  },
  unknown: (v) => ({ ok: true, v }),
  flags: (v) =>
    v !== null &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === "boolean")
      ? { ok: true, v }
      : { ok: false },
};
function nullable(check) {
  return (v) => (v === null ? { ok: true, v: null } : check(v));
}
const COMMON = {
  id: FIELD.coerceString,
  payload: FIELD.unknown,
  priority: FIELD.number,
  run_at: FIELD.coerceDate,
  attempts: FIELD.number,
  max_attempts: FIELD.number,
  last_error: nullable(FIELD.string),
  created_at: FIELD.coerceDate,
  updated_at: FIELD.coerceDate,
  key: nullable(FIELD.string),
  revision: FIELD.number,
  locked_at: nullable(FIELD.coerceDate),
  locked_by: nullable(FIELD.string),
  flags: nullable(FIELD.flags),
};
const SCHEMAS = {
  // ZodWorker with graphile-worker 0.13 (trigger.dev until 2024).
  "0.13": { ...COMMON, queue_name: nullable(FIELD.string), task_identifier: FIELD.string },
  // ZodWorker with graphile-worker 0.16.6.
  "0.16": { ...COMMON, job_queue_id: nullable(FIELD.number), task_id: FIELD.number },
};
function parseJob(row, shape) {
  if (row === null || typeof row !== "object") return { ok: false, issues: ["not an object"] };
  const out = {};
  const issues = [];
  for (const [name, check] of Object.entries(SCHEMAS[shape])) {
    const r = check(row[name]);
    if (r.ok) out[name] = r.v;
    else issues.push(name);
  }
  return issues.length ? { ok: false, issues } : { ok: true, job: out };
}
// AddJobResultsSchema = z.array(GraphileJobSchema): every row must parse; ZodWorker then
// returns the first row, or undefined when parsing fails.
function parseResults(rows, shape) {
  const jobs = [];
  for (const row of rows) {
    const r = parseJob(row, shape);
    if (!r.ok) return { ok: false, issues: r.issues, job: null };
    jobs.push(r.job);
  }
  return { ok: true, issues: [], job: jobs.length ? jobs[0] : null };
}

function plain(value) {
  return JSON.parse(
    JSON.stringify(value, function (k, v) {
      const raw = this[k];
      return raw instanceof Date ? { $date: raw.toISOString() } : v;
    }),
  );
}

async function zwAdd(req) {
  // zodWorker.server.ts #addJob, verbatim but for the schema name.
  const { rows } = await pool(req.conn).query(
    `select * from ${quoteIdent(req.schema)}.add_job(identifier => $1::text, payload => $2::json, queue_name => $3::text, run_at => $4::timestamptz, max_attempts => $5::int, job_key => $6::text, priority => $7::int, flags => $8::text[], job_key_mode => $9::text)`,
    req.params,
  );
  return { rows, parse: parseResults(rows, req.shape) };
}

async function zwRemove(req) {
  // zodWorker.server.ts #removeJob, verbatim but for the schema name.
  const { rows } = await pool(req.conn).query(
    `select * from ${quoteIdent(req.schema)}.remove_job(job_key => $1::text)`,
    [req.jobKey],
  );
  return { rows, parse: parseResults(rows, req.shape) };
}

function withPgClient(conn) {
  return async (callback) => {
    const client = await pool(conn).connect();
    try {
      return await callback(client);
    } finally {
      client.release();
    }
  };
}

async function utilsAdd(req) {
  let addJob;
  if (req.version === "0.13") {
    const helpers = require("graphile-worker-0.13/dist/helpers");
    addJob = helpers.makeAddJob({ schema: req.schema }, withPgClient(req.conn));
  } else {
    const lib = require("graphile-worker-0.16/dist/lib");
    const helpers = require("graphile-worker-0.16/dist/helpers");
    const compiled = lib.processSharedOptions({ schema: req.schema });
    addJob = helpers.makeAddJob(compiled, withPgClient(req.conn));
  }
  const spec = { ...(req.spec || {}) };
  if (spec.runAt) spec.runAt = new Date(spec.runAt);
  const job = await addJob(req.identifier, req.payload, spec);
  return { rows: [job], parse: parseResults([job], req.version) };
}

// The statements of WorkerUtils (dist/workerUtils.js) of each version.
const UTILS = {
  "0.13": {
    completeJobs: (s, [ids]) => [`select * from ${s}.complete_jobs($1)`, [ids]],
    permanentlyFailJobs: (s, [ids, reason]) => [
      `select * from ${s}.permanently_fail_jobs($1, $2)`,
      [ids, reason || null],
    ],
    rescheduleJobs: (s, [ids, o]) => [
      `select * from ${s}.reschedule_jobs(
            $1,
            run_at := $2,
            priority := $3,
            attempts := $4,
            max_attempts := $5
          )`,
      [ids, o.runAt || null, o.priority || null, o.attempts || null, o.maxAttempts || null],
    ],
  },
  "0.16": {
    completeJobs: (s, [ids]) => [`select * from ${s}.complete_jobs($1::bigint[])`, [ids]],
    permanentlyFailJobs: (s, [ids, reason]) => [
      `select * from ${s}.permanently_fail_jobs($1::bigint[], $2::text)`,
      [ids, reason || null],
    ],
    rescheduleJobs: (s, [ids, o]) => [
      `select * from ${s}.reschedule_jobs(
            $1::bigint[],
            run_at := $2::timestamptz,
            priority := $3::int,
            attempts := $4::int,
            max_attempts := $5::int
          )`,
      [ids, o.runAt || null, o.priority || null, o.attempts || null, o.maxAttempts || null],
    ],
    forceUnlockWorkers: (s, [workerIds]) => [
      `select ${s}.force_unlock_workers($1::text[]);`,
      [workerIds],
    ],
  },
};

async function utils(req) {
  const make = UTILS[req.version][req.method];
  if (!make) throw new Error(`WorkerUtils ${req.version} has no ${req.method}`);
  const [text, values] = make(quoteIdent(req.schema), req.args);
  const { rows } = await pool(req.conn).query(text, values);
  const parse =
    req.method === "forceUnlockWorkers" ? null : parseResults(rows, req.version);
  return { rows, parse };
}

// GraphileMigrationHelperService (apps/webapp/app/services/db/graphileMigrationHelper.server.ts,
// 1642fd7): #graphileSchemaExists is Prisma's $executeRaw (the affected-row count) of the first
// statement, the schema a bound parameter; #getLatestMigration is $queryRawUnsafe of the second,
// WORKER_SCHEMA written in unquoted, parsed with z.array(z.object({ id: z.number() })).
async function migrationHelper(req) {
  const db = pool(req.conn);
  const exists = await db.query(
    `
      SELECT schema_name FROM information_schema.schemata
      WHERE schema_name = $1
    `,
    [req.schema],
  );
  if (exists.rowCount !== 1) return { schemaCount: exists.rowCount, action: "none" };
  const { rows } = await db.query(`
      SELECT id FROM ${req.schema}.migrations
      ORDER BY id DESC LIMIT 1
    `);
  if (!rows.every((r) => isNumber(r.id))) {
    throw new Error(`ZodError: migrations id is not a number: ${JSON.stringify(rows)}`);
  }
  const latestMigration = rows.length ? rows[0].id : -1;
  // "the first v0.14.0 migration has ID 11"
  const action = latestMigration < 0 || latestMigration > 10 ? "none" : "notify";
  return { schemaCount: 1, latestMigration, action };
}

async function runMigrations(req) {
  const url = req.conn || process.env.DATABASE_URL;
  const logs = [];
  const logFactory = (scope) => (level, message) => logs.push({ level, message });
  if (req.version === "0.13") {
    const { runMigrations, Logger } = require("graphile-worker-0.13");
    await runMigrations({ connectionString: url, schema: req.schema, logger: new Logger(logFactory) });
  } else {
    const { runMigrations, Logger } = require("graphile-worker-0.16");
    await runMigrations({ connectionString: url, schema: req.schema, logger: new Logger(logFactory) });
  }
  return { logs };
}

const OPS = {
  zw_add: zwAdd,
  zw_remove: zwRemove,
  utils_add: utilsAdd,
  utils,
  migration_helper: migrationHelper,
  run_migrations: runMigrations,
};

async function handle(line) {
  const req = JSON.parse(line);
  if (req.op === "quit") {
    for (const p of pools.values()) await p.end();
    process.exit(0);
  }
  try {
    return { status: "ok", ...plain(await OPS[req.op](req)) };
  } catch (e) {
    return { status: "error", error: String(e.message || e), code: e.code || null };
  }
}

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on("line", (line) => {
  chain = chain.then(async () => {
    process.stdout.write(JSON.stringify(await handle(line)) + "\n");
  });
});
rl.on("close", () => {
  chain.then(async () => {
    for (const p of pools.values()) await p.end();
  });
});
