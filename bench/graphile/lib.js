"use strict";
// Shared helpers of graphile-worker's side of the benchmarks (see ../README.md).

const { randomUUID } = require("node:crypto");

const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1", "[::1]", ""]);

/** The two positional arguments every script takes: the database URL and the schema. */
function connection(argv) {
  const [url, schema] = argv;
  if (!url || !schema) {
    throw new Error("usage: node <script> DATABASE_URL SCHEMA ...");
  }
  assertLoopback(url);
  return { url, schema };
}

/** Refuse any database that is not on this machine. */
function assertLoopback(url) {
  const parsed = new URL(url);
  const host = decodeURIComponent(parsed.hostname);
  const socket = parsed.searchParams.get("host");
  const local =
    (LOOPBACK.has(host) || host.startsWith("127.")) &&
    (socket === null || socket.startsWith("/") || LOOPBACK.has(socket));
  if (!local) {
    throw new Error(`refusing a database that is not on loopback: ${host}`);
  }
}

/** Wall-clock time in seconds with sub-millisecond resolution (comparable to Python's time.time()). */
function now() {
  return (performance.timeOrigin + performance.now()) / 1000;
}

/** Options shared by WorkerUtils and the runner: graphile-worker's defaults but for the schema. */
function sharedOptions(url, schema) {
  return { connectionString: url, schema, logger: quietLogger() };
}

function quietLogger() {
  const { Logger } = require("graphile-worker");
  return new Logger(() => (level, message) => {
    if (level === "error" || level === "warning") {
      process.stderr.write(`graphile-worker ${level}: ${message}\n`);
    }
  });
}

function ident(name) {
  return `"${name.replace(/"/g, '""')}"`;
}

function payloads(count) {
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = { id: randomUUID() };
  }
  return out;
}

function printJson(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

module.exports = { connection, assertLoopback, now, sharedOptions, ident, payloads, printJson };
