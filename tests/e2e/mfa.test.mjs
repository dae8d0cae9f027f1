// Multi-factor authentication through the real @supabase/auth-js client (supabase.auth.mfa.*),
// on SQLite and on PostgreSQL, with TOTP codes computed here from the enrolled secret (RFC 6238).

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AuthApiError } from '@supabase/auth-js';
import { backends, call, client, freshEmail, startAuthd } from './harness.mjs';

const PASSWORD = 'correct horse battery';

/** RFC 4648 base32 (no padding) to bytes. */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The RFC 6238 code (HMAC-SHA-1, 6 digits, 30-second steps) of `secret` in time step `step`. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, '0');
}

function currentStep() {
  return Math.floor(Date.now() / 1000 / 30);
}

function claims(accessToken) {
  return JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString());
}

function assertApiError(error, { code, status }) {
  assert.ok(error instanceof AuthApiError, `expected an AuthApiError, got ${error}`);
  assert.equal(error.code, code);
  assert.equal(error.status, status);
}

for (const backend of backends()) {
  describe(`MFA on ${backend.name}`, { skip: backend.skip }, () => {
    let server;

    before(async () => {
      server = await startAuthd(backend, {
        SIGNUP__AUTOCONFIRM: 'true',
        RATE_LIMITS__SIGNUP_PER_MINUTE: '0',
        RATE_LIMITS__PASSWORD_PER_MINUTE: '0',
        RATE_LIMITS__REFRESH_PER_MINUTE: '0',
        RATE_LIMITS__VERIFY_PER_MINUTE: '0',
      });
    });

    after(async () => {
      await server?.stop();
    });

    it('enroll, challenge and verify reach aal2; refresh keeps it; a new sign-in is aal1 with nextLevel aal2; unenroll needs aal2', async () => {
      const auth = client(server);
      const email = freshEmail('mfa');
      assert.equal((await auth.signUp({ email, password: PASSWORD })).error, null);

      const enrolled = await auth.mfa.enroll({ factorType: 'totp', friendlyName: 'phone app', issuer: 'authd e2e' });
      assert.equal(enrolled.error, null);
      const factor = enrolled.data;
      assert.equal(factor.type, 'totp');
      assert.equal(factor.friendly_name, 'phone app');
      // The server answers raw SVG; auth-js makes it a data URI (once).
      assert.ok(factor.totp.qr_code.startsWith('data:image/svg+xml;utf-8,'), factor.totp.qr_code.slice(0, 40));
      assert.ok(factor.totp.qr_code.includes('<svg'));
      assert.ok(!factor.totp.qr_code.slice(10).includes('data:image'));
      assert.match(factor.totp.secret, /^[A-Z2-7]{32}$/);
      assert.ok(factor.totp.uri.startsWith('otpauth://totp/authd%20e2e:'));

      const before = await auth.mfa.listFactors();
      assert.equal(before.error, null);
      assert.equal(before.data.all.length, 1);
      assert.equal(before.data.all[0].status, 'unverified');
      assert.deepEqual(before.data.totp, [], 'only verified factors are listed by type');
      const level0 = (await auth.mfa.getAuthenticatorAssuranceLevel()).data;
      assert.equal(level0.currentLevel, 'aal1');

      const step = currentStep();
      const challenge = await auth.mfa.challenge({ factorId: factor.id });
      assert.equal(challenge.error, null);
      assert.ok(challenge.data.expires_at > Date.now() / 1000);
      const wrong = await auth.mfa.verify({ factorId: factor.id, challengeId: challenge.data.id, code: '000000' === totp(factor.totp.secret, step) ? '111111' : '000000' });
      assertApiError(wrong.error, { code: 'mfa_verification_failed', status: 422 });
      const verified = await auth.mfa.verify({
        factorId: factor.id,
        challengeId: challenge.data.id,
        code: totp(factor.totp.secret, step),
      });
      assert.equal(verified.error, null);
      assert.equal(claims(verified.data.access_token).aal, 'aal2');
      const level = (await auth.mfa.getAuthenticatorAssuranceLevel()).data;
      assert.equal(level.currentLevel, 'aal2');
      assert.equal(level.nextLevel, 'aal2');
      assert.ok(level.currentAuthenticationMethods.some((m) => m.method === 'totp'));
      assert.equal((await auth.mfa.listFactors()).data.totp.length, 1);

      const refreshed = await auth.refreshSession();
      assert.equal(refreshed.error, null);
      assert.equal(claims(refreshed.data.session.access_token).aal, 'aal2', 'refresh keeps aal2');

      // Another device: password alone is aal1, and the stored sign-in response tells auth-js
      // that aal2 is possible.
      const other = client(server);
      assert.equal((await other.signInWithPassword({ email, password: PASSWORD })).error, null);
      const otherLevel = (await other.mfa.getAuthenticatorAssuranceLevel()).data;
      assert.equal(otherLevel.currentLevel, 'aal1');
      assert.equal(otherLevel.nextLevel, 'aal2');
      assertApiError((await other.mfa.unenroll({ factorId: factor.id })).error, { code: 'insufficient_aal', status: 422 });
      const enrollAgain = await other.mfa.enroll({ factorType: 'totp', friendlyName: 'second' });
      assertApiError(enrollAgain.error, { code: 'insufficient_aal', status: 403 });

      // The same code again is refused; the next step's code raises this session too.
      const replay = await other.mfa.challengeAndVerify({ factorId: factor.id, code: totp(factor.totp.secret, step) });
      assertApiError(replay.error, { code: 'mfa_verification_failed', status: 422 });
      const raised = await other.mfa.challengeAndVerify({ factorId: factor.id, code: totp(factor.totp.secret, step + 1) });
      assert.equal(raised.error, null);
      assert.equal((await other.mfa.getAuthenticatorAssuranceLevel()).data.currentLevel, 'aal2');

      const removed = await other.mfa.unenroll({ factorId: factor.id });
      assert.equal(removed.error, null);
      assert.equal(removed.data.id, factor.id);
      assert.deepEqual((await other.mfa.listFactors()).data.all, []);
    });

    it('recovery codes: generated at aal2, one raises an aal1 session to aal2 once, regenerated and removed', async () => {
      const auth = client(server, { experimental: { recoveryCodes: true } });
      const email = freshEmail('mfa-codes');
      assert.equal((await auth.signUp({ email, password: PASSWORD })).error, null);
      const lone = await auth.mfa.recoveryCodes.generate();
      assertApiError(lone.error, { code: 'mfa_recovery_codes_sole_factor', status: 422 });

      const factor = (await auth.mfa.enroll({ factorType: 'totp' })).data;
      const step = currentStep();
      const raised = await auth.mfa.challengeAndVerify({ factorId: factor.id, code: totp(factor.totp.secret, step) });
      assert.equal(raised.error, null);
      const generated = await auth.mfa.recoveryCodes.generate({ friendlyName: 'paper' });
      assert.equal(generated.error, null);
      assert.equal(generated.data.type, 'recovery_code');
      assert.equal(generated.data.friendly_name, 'paper');
      assert.equal(generated.data.total, 10);
      assert.ok(generated.data.codes.every((code) => /^[a-z0-9]{16}$/.test(code)));
      const twice = await auth.mfa.recoveryCodes.generate();
      assertApiError(twice.error, { code: 'mfa_verified_factor_exists', status: 422 });
      assert.deepEqual((await auth.mfa.recoveryCodes.getStatus()).data, {
        id: generated.data.id,
        type: 'recovery_code',
        total: 10,
        remaining: 10,
      });

      // Another device with the password alone: aal1, and the factor list says aal2 is possible.
      const other = client(server, { experimental: { recoveryCodes: true } });
      assert.equal((await other.signInWithPassword({ email, password: PASSWORD })).error, null);
      assert.equal((await other.mfa.getAuthenticatorAssuranceLevel()).data.nextLevel, 'aal2');
      assert.equal((await other.mfa.listFactors()).data.recovery_code.length, 1);
      const regenerateAtAal1 = await other.mfa.recoveryCodes.regenerate();
      assertApiError(regenerateAtAal1.error, { code: 'insufficient_aal', status: 403 });
      const [first, second] = generated.data.codes;
      const typed = first.toUpperCase().match(/.{4}/g).join('-');
      const used = await other.mfa.recoveryCodes.verify({ code: typed });
      assert.equal(used.error, null);
      assert.equal(claims(used.data.access_token).aal, 'aal2');
      const level = (await other.mfa.getAuthenticatorAssuranceLevel()).data;
      assert.equal(level.currentLevel, 'aal2');
      assert.ok(level.currentAuthenticationMethods.some((m) => m.method === 'mfa/recovery_code'));
      assert.equal((await other.refreshSession()).error, null, 'the raised session refreshes');

      const third = client(server, { experimental: { recoveryCodes: true } });
      assert.equal((await third.signInWithPassword({ email, password: PASSWORD })).error, null);
      const again = await third.mfa.recoveryCodes.verify({ code: first });
      assertApiError(again.error, { code: 'mfa_verification_failed', status: 422 });
      assert.equal((await third.mfa.recoveryCodes.getStatus()).data.remaining, 9);

      const regenerated = await other.mfa.recoveryCodes.regenerate();
      assert.equal(regenerated.error, null);
      assert.equal(regenerated.data.id, generated.data.id);
      const stale = await third.mfa.recoveryCodes.verify({ code: second });
      assertApiError(stale.error, { code: 'mfa_verification_failed', status: 422 });
      assert.equal((await third.mfa.recoveryCodes.verify({ code: regenerated.data.codes[0] })).error, null);

      const removed = await other.mfa.recoveryCodes.unenroll();
      assert.equal(removed.error, null);
      assert.equal(removed.data.id, generated.data.id);
      assertApiError((await other.mfa.recoveryCodes.getStatus()).error, { code: 'mfa_factor_not_found', status: 404 });
    });

    it('admin.mfa.listFactors and deleteFactor', async () => {
      const auth = client(server);
      const email = freshEmail('mfa-admin');
      const { data } = await auth.signUp({ email, password: PASSWORD });
      const enrolled = await auth.mfa.enroll({ factorType: 'totp' });
      assert.equal(enrolled.error, null);
      assert.equal(enrolled.data.friendly_name, '', 'friendly_name is always present');

      const keys = JSON.parse(server.cli(['keys', 'api', '--json']));
      const headers = { apikey: keys.service_role_key, Authorization: `Bearer ${keys.service_role_key}` };
      const admin = client(server, { headers }).admin;
      const listed = await admin.mfa.listFactors({ userId: data.user.id });
      assert.equal(listed.error, null);
      assert.deepEqual(listed.data.factors.map((f) => f.id), [enrolled.data.id]);
      const shown = await admin.getUserById(data.user.id);
      assert.deepEqual(shown.data.user.factors.map((f) => f.id), [enrolled.data.id], 'admin user objects list factors');
      const cli = JSON.parse(server.cli(['users', 'factors', 'list', email, '--json']));
      assert.deepEqual(cli.map((f) => f.id), [enrolled.data.id]);
      const renamed = await call(server, 'PUT', `/admin/users/${data.user.id}/factors/${enrolled.data.id}`, {
        json: { friendly_name: 'renamed' },
        token: keys.service_role_key,
        headers: { apikey: keys.service_role_key },
      });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.friendly_name, 'renamed');
      const deleted = await admin.mfa.deleteFactor({ userId: data.user.id, id: enrolled.data.id });
      assert.equal(deleted.error, null);
      // auth-js wraps this answer once more than the others: `{ data: { data: factor } }`.
      assert.equal(deleted.data.data.id, enrolled.data.id);
      assert.deepEqual((await admin.mfa.listFactors({ userId: data.user.id })).data.factors, []);
    });
  });
}
