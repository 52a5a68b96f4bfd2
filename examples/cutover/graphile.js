// The old system of the cut-over example: the real graphile-worker 0.16.6, as trigger.dev v2
// ran it (examples/cutover/README.md). One step per run, its result as JSON on stdout:
//
//   node graphile.js setup SCHEMA    graphile-worker's own migrations, then jobs added by its
//                                    own WorkerUtils.addJob (keyed, queued, scheduled), and the
//                                    recurring task registered by its own cron (a worker
//                                    started with a crontab, then stopped)
//   node graphile.js add SCHEMA JSON more jobs by addJob: [{identifier, payload, spec}]
//   node graphile.js run SCHEMA N    graphile-worker's own runOnce, again until N jobs ran
//                                    (jobs exported with a run_at a moment away), 30 s at most
//
// DATABASE_URL is the database. graphile-worker comes from tests/graphile/node (`npm ci
// --prefix tests/graphile/node`), or from CUTOVER_NODE_MODULES.
"use strict";

const path = require("path");

const NODE_MODULES =
  process.env.CUTOVER_NODE_MODULES ||
  path.resolve(__dirname, "..", "..", "tests", "graphile", "node", "node_modules");
const gw = require(path.join(NODE_MODULES, "graphile-worker-0.16"));

const connectionString = process.env.DATABASE_URL;
const quiet = new gw.Logger(() => () => {});
const HOUR = 3600 * 1000;

// What trigger.dev v2 had waiting when the cut-over began (payloads and keys as its call
// sites make them; apps/webapp/app/services/worker.server.ts).
function pendingJobs(now) {
  return [
    // keyed: deliverEvent, jobKey event:<eventLogId>
    {
      identifier: "deliverEvent",
      payload: { id: "evt_1" },
      spec: { jobKey: "event:evt_1", maxAttempts: 5 },
    },
    // queued: deliverWebhookRequest ran in a queue per request (webhooks:<id>)
    {
      identifier: "deliverWebhookRequest",
      payload: { id: "whr_1" },
      spec: { queueName: "webhooks:whr_1", maxAttempts: 14 },
    },
    {
      identifier: "scheduleEmail",
      payload: { email: "welcome", to: "ada@example.com" },
      spec: { maxAttempts: 3 },
    },
    // scheduled: a callback timeout, armed for an hour (dequeued when the callback arrives)
    {
      identifier: "processCallbackTimeout",
      payload: { id: "task_1" },
      spec: { jobKey: "process-callback:task_1", runAt: new Date(now + HOUR), maxAttempts: 3 },
    },
    // scheduled: the next tick of a schedule, keyed by its source
    {
      identifier: "events.deliverScheduled",
      payload: { id: "sched_1", payload: { ts: new Date(now + HOUR).toISOString() } },
      spec: { jobKey: "scheduled:sched_1", runAt: new Date(now + HOUR), maxAttempts: 8 },
    },
  ];
}

async function addJobs(schema, jobs) {
  const utils = await gw.makeWorkerUtils({ connectionString, schema, logger: quiet });
  try {
    const rows = [];
    for (const job of jobs) {
      const spec = { ...(job.spec || {}) };
      if (spec.runAt) spec.runAt = new Date(spec.runAt);
      const row = await utils.addJob(job.identifier, job.payload, spec);
      rows.push({ id: String(row.id), key: row.key, run_at: row.run_at });
    }
    return rows;
  } finally {
    await utils.release();
  }
}

async function setup(schema) {
  await gw.runMigrations({ connectionString, schema, logger: quiet });
  const added = await addJobs(schema, pendingJobs(Date.now()));
  // A worker with trigger.dev's hourly purgeOldIndexings crontab: its cron registers the
  // recurring task in _private_known_crontabs at start-up.
  const runner = await gw.run({
    connectionString,
    schema,
    logger: quiet,
    concurrency: 1,
    noHandleSignals: true,
    pollInterval: 100,
    taskList: { purgeOldIndexings: async () => {} },
    crontab: "0 * * * * purgeOldIndexings",
  });
  const { Pool } = require(path.join(NODE_MODULES, "pg"));
  const pool = new Pool({ connectionString, max: 1 });
  try {
    const deadline = Date.now() + 30000;
    for (;;) {
      const { rows } = await pool.query(
        `select identifier, known_since from ${quote(schema)}._private_known_crontabs`,
      );
      if (rows.length) {
        await runner.stop();
        return { added, known_crontabs: rows };
      }
      if (Date.now() > deadline) throw new Error("graphile-worker's cron registered nothing");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await pool.end();
  }
}

async function runJobs(schema, expected) {
  const ran = [];
  const record = (identifier) => async (payload, helpers) => {
    ran.push({ identifier, payload, attempts: helpers.job.attempts });
  };
  const taskList = {};
  for (const name of [
    "deliverEvent",
    "deliverWebhookRequest",
    "scheduleEmail",
    "processCallbackTimeout",
    "events.deliverScheduled",
    "probeEndpoint",
    "startRun",
  ]) {
    taskList[name] = record(name);
  }
  const deadline = Date.now() + 30000;
  for (;;) {
    await gw.runOnce({ connectionString, schema, logger: quiet, taskList, concurrency: 1 });
    if (ran.length >= expected) return { ran };
    if (Date.now() > deadline) return { ran, timed_out: true };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function quote(name) {
  return '"' + String(name).replace(/"/g, '""') + '"';
}

async function main() {
  const [step, schema, arg] = process.argv.slice(2);
  let result;
  if (step === "setup") result = await setup(schema);
  else if (step === "add") result = { added: await addJobs(schema, JSON.parse(arg)) };
  else if (step === "run") result = await runJobs(schema, Number(arg || 1));
  else throw new Error(`unknown step ${step}: setup | add | run`);
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
