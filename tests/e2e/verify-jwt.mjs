// Verifies JWTs with the `jose` library against the jwt-secret `authd postgrest config` prints:
// a JWKS (ES256, RS256) or an HS256 shared secret, the way PostgREST is given it. Independent of
// authd's own Rust code. Reads {"secret", "audience", "tokens": [...]} on stdin and prints one
// result per token: {"ok": true, "alg", "kid", "payload"} or {"ok": false, "error"}.
import { createLocalJWKSet, jwtVerify } from 'jose';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { secret, audience, tokens } = JSON.parse(input);

let key;
let algorithms;
let jwks = null;
try {
  jwks = JSON.parse(secret);
} catch {
  // Not JSON: an HS256 secret.
}
if (jwks && Array.isArray(jwks.keys)) {
  key = createLocalJWKSet(jwks);
  algorithms = ['ES256', 'RS256'];
} else {
  key = new TextEncoder().encode(secret);
  algorithms = ['HS256'];
}

const results = [];
for (const token of tokens) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, key, { audience, algorithms });
    results.push({ ok: true, alg: protectedHeader.alg, kid: protectedHeader.kid ?? null, payload });
  } catch (error) {
    results.push({ ok: false, error: error.code ?? String(error) });
  }
}
process.stdout.write(JSON.stringify(results));
