// Starting authd processes and making auth-js clients for the end-to-end suite.
//
// The binary is `AUTHD_BIN`, else `$CARGO_TARGET_DIR/debug/authd`, else `target/debug/authd`.
// SQLite always runs; PostgreSQL runs when `AUTHD_E2E_DATABASE_URL` names a database authd may
// migrate and fill (the suite uses fresh addresses, so a shared database is fine).
// `AUTHD_E2E_REQUIRE_POSTGRES=1` turns a missing PostgreSQL into a failure instead of a skip.
// `AUTHD_E2E_SUPABASE=1` runs every server with `[compat] supabase = true` (Supabase Auth's answers
// wherever authd's own default differs); the suite must pass either way.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GoTrueClient } from '@supabase/auth-js';

const here = dirname(fileURLToPath(import.meta.url));

/** Whether every server runs with the umbrella setting `compat.supabase` on. */
export const supabaseCompat = process.env.AUTHD_E2E_SUPABASE === '1';

/** The authd binary under test. */
export function authdBinary() {
  if (process.env.AUTHD_BIN) return process.env.AUTHD_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? resolve(here, '..', '..', 'target');
  const binary = join(target, 'debug', 'authd');
  if (!existsSync(binary)) {
    throw new Error(`authd binary not found at ${binary}: run \`cargo build -p authd\` or set AUTHD_BIN`);
  }
  return binary;
}

/**
 * The backends to run the suite on: `{ name, databaseUrl(dir), fresh }`, or a `skip` reason.
 * `fresh`: every server gets an empty database (SQLite); otherwise all servers share one.
 */
export function backends() {
  // Servers on one database share its outbox, so any of them may deliver a mail: they all write
  // into one folder per backend.
  const mailDir = (name) => {
    const folder = mkdtempSync(join(tmpdir(), `authd-e2e-mail-${name}-`));
    process.on('exit', () => rmSync(folder, { recursive: true, force: true }));
    return folder;
  };
  const list = [
    { name: 'sqlite', databaseUrl: (dir) => `sqlite://${join(dir, 'authd.db')}`, fresh: true, mailDir: mailDir('sqlite') },
  ];
  const postgres = process.env.AUTHD_E2E_DATABASE_URL;
  if (postgres) {
    list.push({ name: 'postgres', databaseUrl: () => postgres, fresh: false, mailDir: mailDir('postgres') });
  } else if (process.env.AUTHD_E2E_REQUIRE_POSTGRES === '1') {
    throw new Error('AUTHD_E2E_REQUIRE_POSTGRES=1 but AUTHD_E2E_DATABASE_URL is not set');
  } else {
    list.push({ name: 'postgres', skip: 'AUTHD_E2E_DATABASE_URL is not set' });
    console.error('\n*** PostgreSQL e2e run SKIPPED: set AUTHD_E2E_DATABASE_URL to a database authd may use ***\n');
  }
  // The same PostgreSQL again through PgBouncer in transaction mode, when the Rust test that
  // starts one passes both of its URLs.
  const pooled = process.env.AUTHD_E2E_PGBOUNCER_URL;
  const direct = process.env.AUTHD_E2E_PGBOUNCER_DIRECT_URL;
  if (pooled && direct) {
    list.push({
      name: 'pgbouncer',
      databaseUrl: () => pooled,
      settings: { DATABASE__DIRECT_URL: direct, DATABASE__TRANSACTION_POOLING: 'true' },
      fresh: false,
      mailDir: mailDir('pgbouncer'),
    });
  }
  return list;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A running `authd serve` with the given settings (`AUTHD_*` variables without the prefix,
 * e.g. `{ SIGNUP__AUTOCONFIRM: 'true' }`) on the backend's database.
 */
export async function startAuthd(backend, settings = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'authd-e2e-'));
  const port = await freePort();
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AUTHD_') && key !== 'RUST_LOG') env[key] = value;
  }
  const url = `http://127.0.0.1:${port}/auth/v1`;
  const defaults = {
    SERVER__PORT: String(port),
    // Emailed links point back at this server; without SMTP, mail lands in the backend's folder.
    SITE__EXTERNAL_URL: url,
    MAIL__OUTBOX_DIR: backend.mailDir,
    DATABASE__URL: backend.databaseUrl(dir),
    LOG__LEVEL: 'warn',
    // Small argon2 parameters keep a debug build quick; the suite is about the protocol.
    PASSWORD__HASH__MEMORY_KIB: '256',
    PASSWORD__HASH__ITERATIONS: '1',
    ...(supabaseCompat ? { COMPAT__SUPABASE: 'true' } : {}),
  };
  for (const [key, value] of Object.entries({ ...defaults, ...(backend.settings ?? {}), ...settings })) {
    env[`AUTHD_${key}`] = value;
  }

  const child = spawn(authdBinary(), ['serve'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit({ code, signal })));

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`authd exited before answering: ${stderr}`);
    }
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`authd did not answer within 60 s: ${stderr}`);
    }
    await new Promise((wake) => setTimeout(wake, 100));
  }

  return {
    url,
    /** Runs another authd command (`['keys', 'api', '--json']`) on this server's configuration. */
    cli: (args) => execFileSync(authdBinary(), args, { cwd: dir, env, encoding: 'utf8' }),
    /** Stops the server gracefully and removes its directory. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    /** What the server wrote to stderr so far. */
    log: () => stderr,
    /**
     * Waits for the `n`-th mail (from 1) to `to` in the server's mail folder and returns its
     * decoded text, with `code` (the 6-digit code) and `tokenHash` (the link's token).
     */
    async mail(to, n = 1, within = 20_000) {
      const folder = backend.mailDir;
      const deadline = Date.now() + within;
      for (;;) {
        const files = existsSync(folder) ? readdirSync(folder).filter((f) => f.endsWith('.eml')).sort() : [];
        const mails = files
          .map((f) => decodeQuotedPrintable(readFileSync(join(folder, f), 'utf8')))
          .filter((text) => new RegExp(`^To: .*${to.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'mi').test(text));
        if (mails.length >= n) {
          const text = mails[n - 1];
          return {
            text,
            code: text.match(/code: (\d{6})/)?.[1],
            tokenHash: text.match(/\/verify\?token=([A-Za-z0-9_-]+)/)?.[1],
            link: text.match(/(https?:\/\/\S+\/verify\?token=\S+)/)?.[1],
          };
        }
        if (Date.now() > deadline) throw new Error(`no mail number ${n} to ${to} in ${folder}`);
        await new Promise((wake) => setTimeout(wake, 200));
      }
    },
  };
}

/** Undoes quoted-printable soft line breaks and escapes (enough to read codes and links). */
function decodeQuotedPrintable(text) {
  return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/** Storage that keeps one client's session in memory. */
function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

/**
 * A fresh auth-js client for `server`, with its own storage, no background refresh, and a
 * record of every request it sends (`client.requests`: `{ method, url, status, headers }`).
 * `headers` go with every request, as supabase-js sends its key; `experimental` are auth-js's
 * opt-in flags (`{ recoveryCodes: true }`).
 */
export function client(server, { headers, flowType = 'implicit', experimental } = {}) {
  const requests = [];
  const recordingFetch = async (input, init = {}) => {
    const response = await fetch(input, init);
    requests.push({ method: init.method ?? 'GET', url: String(input), status: response.status, headers: response.headers });
    return response;
  };
  const auth = new GoTrueClient({
    url: server.url,
    storageKey: `authd-e2e-${randomUUID()}`,
    storage: memoryStorage(),
    autoRefreshToken: false,
    persistSession: true,
    detectSessionInUrl: false,
    fetch: recordingFetch,
    headers,
    flowType,
    experimental,
  });
  auth.requests = requests;
  return auth;
}

/**
 * Opens an emailed link as a browser does: loads the landing page, presses its button (which
 * posts the page's form back to the page's own URL), and answers where the browser is sent.
 */
export async function openLink(link) {
  if (supabaseCompat) {
    // Supabase Auth's way (`compat.verify_links_at_once`, on under the umbrella): following the
    // link redeems it and redirects.
    const followed = await fetch(link, { redirect: 'manual' });
    assert.equal(followed.status, 303, `the link redeems at once: ${link}`);
    return new URL(followed.headers.get('location'));
  }
  const page = await fetch(link);
  assert.equal(page.status, 200, `the link page answers: ${link}`);
  const html = await page.text();
  const form = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([a-z_]+)" value="([^"]*)">/g)) {
    form.set(name, value.replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>'));
  }
  const pressed = await fetch(link, { method: 'POST', body: form, redirect: 'manual' });
  assert.equal(pressed.status, 303, 'the form redirects');
  return new URL(pressed.headers.get('location'));
}

/** A fresh address nobody has used. */
export function freshEmail(label = 'user') {
  return `${label}-${randomUUID()}@example.com`;
}

/** A fresh username (letters, digits and underscores). */
export function freshUsername(label = 'user') {
  return `${label}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

/** Calls the API without auth-js: `{ status, headers, body }` with the body parsed when JSON. */
export async function call(server, method, path, { json, token, headers = {} } = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(json === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await response.text();
  let body = text;
  if ((response.headers.get('content-type') ?? '').includes('json') && text) body = JSON.parse(text);
  return { status: response.status, headers: response.headers, body };
}
