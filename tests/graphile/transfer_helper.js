// Drives the real graphile-worker (0.13.0 or 0.16.6, from tests/graphile/node) for the
// transfer tests: one process runs a list of steps given as JSON on stdin and prints one JSON
// array of results on stdout.
//
// Steps (each names "version": "0.13" | "0.16" and "schema"):
//   {"op": "migrate"}                      graphile-worker's own runMigrations
//   {"op": "add", "jobs": [{"identifier", "payload", "spec": {queueName, runAt (ISO),
//       maxAttempts, jobKey, jobKeyMode, priority, flags}}]}
//                                          WorkerUtils.addJob for each; returns the rows
//   {"op": "run", "tasks": {"name": "ok" | "fail"}}
//                                          runOnce with that task list; returns the jobs run
//                                          as [identifier, payload, attempt] in order
// The connection string is DATABASE_URL.
"use strict";

const path = require("path");

const modules = {
  "0.13": path.join(__dirname, "node", "node_modules", "graphile-worker-0.13"),
  "0.16": path.join(__dirname, "node", "node_modules", "graphile-worker-0.16"),
};

function load(version) {
  const where = modules[version];
  if (!where) throw new Error(`unknown graphile-worker version ${version}`);
  return require(where);
}

function quietLogger(gw) {
  return new gw.Logger(() => () => {});
}

async function step(s) {
  const gw = load(s.version);
  const connectionString = process.env.DATABASE_URL;
  const base = { connectionString, schema: s.schema, logger: quietLogger(gw) };
  switch (s.op) {
    case "migrate": {
      await gw.runMigrations(base);
      return null;
    }
    case "add": {
      const utils = await gw.makeWorkerUtils(base);
      try {
        const rows = [];
        for (const job of s.jobs) {
          const spec = { ...(job.spec || {}) };
          if (spec.runAt) spec.runAt = new Date(spec.runAt);
          rows.push(await utils.addJob(job.identifier, job.payload, spec));
        }
        return rows;
      } finally {
        await utils.release();
      }
    }
    case "run": {
      const ran = [];
      const taskList = {};
      for (const [name, behaviour] of Object.entries(s.tasks)) {
        taskList[name] = async (payload, helpers) => {
          ran.push([name, payload, helpers.job.attempts]);
          if (behaviour === "fail") throw new Error(`${name} failed on purpose`);
        };
      }
      await gw.runOnce({ ...base, taskList, concurrency: 1, pollInterval: 100 });
      return ran;
    }
    default:
      throw new Error(`unknown op ${s.op}`);
  }
}

async function main() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const steps = JSON.parse(input);
  const results = [];
  for (const s of steps) results.push(await step(s));
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
