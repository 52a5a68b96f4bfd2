"use strict";
// node migrate.js DATABASE_URL SCHEMA
// Installs (or upgrades) graphile-worker's schema; prints {"schema", "version"}.

const { runMigrations } = require("graphile-worker");
const { connection, sharedOptions, printJson } = require("./lib");

async function main() {
  const { url, schema } = connection(process.argv.slice(2));
  await runMigrations(sharedOptions(url, schema));
  printJson({ schema, version: require("graphile-worker/package.json").version });
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
