// The webapp's producers during the cut-over example: trigger.dev v2's ZodWorker enqueue and
// dequeue statements, verbatim (apps/webapp/app/platform/zodWorker.server.ts #addJob and
// #removeJob, graphile-worker 0.16.6 era), sent through node-postgres to WORKER_SCHEMA, and
// the returned rows parsed as ZodWorker parses them (its GraphileJobSchema for 0.16).
//
//   node producer.js WORKER_SCHEMA JSON
//
// JSON is a list of calls, done in order:
//   {"enqueue": identifier, "payload": {...}, "options": {jobKey, runAt (ISO) or
//    runInSeconds, queueName, maxAttempts, priority, flags, jobKeyMode}}
//   {"dequeue": jobKey}
// Prints one JSON line: for each call the job ZodWorker would return (null for undefined) and
// whether its parser accepted the rows. DATABASE_URL is the database; node-postgres comes from
// tests/graphile/node (`npm ci --prefix tests/graphile/node`), or from CUTOVER_NODE_MODULES.
"use strict";

const path = require("path");

const NODE_MODULES =
  process.env.CUTOVER_NODE_MODULES ||
  path.resolve(__dirname, "..", "..", "tests", "graphile", "node", "node_modules");
const { Pool } = require(path.join(NODE_MODULES, "pg"));

// ZodWorker's GraphileJobSchema (graphile-worker 0.16.6 era), as plain checks with zod's
// semantics: z.coerce.string(), z.number(), z.coerce.date(), nullable(), z.record(z.boolean()).
const isNumber = (v) => typeof v === "number" && !Number.isNaN(v);
const isDate = (v) => !Number.isNaN(new Date(v).getTime());
const nullable = (check) => (v) => v === null || check(v);
const JOB = {
  id: (v) => v !== undefined,
  job_queue_id: nullable(isNumber),
  task_id: isNumber,
  payload: () => true,
  priority: isNumber,
  run_at: isDate,
  attempts: isNumber,
  max_attempts: isNumber,
  last_error: nullable((v) => typeof v === "string"),
  created_at: isDate,
  updated_at: isDate,
  key: nullable((v) => typeof v === "string"),
  revision: isNumber,
  locked_at: nullable(isDate),
  locked_by: nullable((v) => typeof v === "string"),
  flags: nullable(
    (v) =>
      typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => x === !!x),
  ),
};

// z.array(GraphileJobSchema).safeParse(rows): ZodWorker returns the first job, or undefined.
function parse(rows) {
  for (const row of rows) {
    for (const [field, ok] of Object.entries(JOB)) {
      if (!ok(row[field])) return { parsed: false, job: null, failed: field };
    }
  }
  const row = rows[0];
  if (!row) return { parsed: true, job: null };
  const job = {};
  for (const field of Object.keys(JOB)) job[field] = row[field];
  job.id = String(job.id);
  return { parsed: true, job };
}

async function enqueue(pool, schema, call) {
  const o = call.options || {};
  const runAt =
    o.runInSeconds !== undefined
      ? new Date(Date.now() + o.runInSeconds * 1000)
      : o.runAt
        ? new Date(o.runAt)
        : undefined;
  // zodWorker.server.ts #addJob: every option through `|| null`.
  const { rows } = await pool.query(
    `SELECT * FROM ${schema}.add_job(
          identifier => $1::text,
          payload => $2::json,
          queue_name => $3::text,
          run_at => $4::timestamptz,
          max_attempts => $5::int,
          job_key => $6::text,
          priority => $7::int,
          flags => $8::text[],
          job_key_mode => $9::text
        )`,
    [
      call.enqueue,
      JSON.stringify(call.payload),
      o.queueName || null,
      runAt || null,
      o.maxAttempts || null,
      o.jobKey || null,
      o.priority || null,
      o.flags || null,
      o.jobKeyMode || null,
    ],
  );
  return { call: `enqueue ${call.enqueue}`, ...parse(rows) };
}

async function dequeue(pool, schema, call) {
  // zodWorker.server.ts #removeJob.
  const { rows } = await pool.query(`SELECT * FROM ${schema}.remove_job(job_key => $1::text)`, [
    call.dequeue,
  ]);
  return { call: `dequeue ${call.dequeue}`, ...parse(rows) };
}

async function main() {
  const [schema, json] = process.argv.slice(2);
  if (!/^[a-z_][a-z0-9_]*$/.test(schema || "")) {
    // ZodWorker interpolates WORKER_SCHEMA unquoted; so does this script.
    throw new Error(`WORKER_SCHEMA must be a plain lower-case name (got ${schema})`);
  }
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
  try {
    const results = [];
    for (const call of JSON.parse(json)) {
      results.push(
        call.dequeue !== undefined
          ? await dequeue(pool, schema, call)
          : await enqueue(pool, schema, call),
      );
    }
    process.stdout.write(JSON.stringify(results) + "\n");
  } finally {
    await pool.end();
  }
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
