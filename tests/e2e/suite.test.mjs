// authd driven by the real @supabase/auth-js client, on SQLite and on PostgreSQL.
//
// Run with `npm test` after `cargo build -p authd` (see harness.mjs for the environment).

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { after, before, describe, it } from 'node:test';
import {
  AuthApiError,
  AuthInvalidJwtError,
  AuthRetryableFetchError,
  AuthSessionMissingError,
  AuthWeakPasswordError,
} from '@supabase/auth-js';
import { backends, call, client, freshEmail, freshUsername, openLink, startAuthd, supabaseCompat } from './harness.mjs';

const PASSWORD = 'correct horse battery';
const NO_LIMITS = {
  RATE_LIMITS__SIGNUP_PER_MINUTE: '0',
  RATE_LIMITS__PASSWORD_PER_MINUTE: '0',
  RATE_LIMITS__REFRESH_PER_MINUTE: '0',
};

/** Asserts that `error` is an API error of class `kind` with this code and HTTP status. */
function assertApiError(error, { kind = AuthApiError, code, status }) {
  assert.ok(error, `expected an error with code ${code}, got none`);
  assert.ok(error instanceof kind, `expected ${kind.name}, got ${error.constructor.name}: ${error.message}`);
  if (code !== undefined) assert.equal(error.code, code);
  if (status !== undefined) assert.equal(error.status, status);
}

/** Signs a fresh user up through auth-js; the client holds the session. */
async function signedUp(server, options = {}) {
  const auth = client(server, { headers: options.headers });
  const email = freshEmail(options.label);
  const { data, error } = await auth.signUp({ email, password: PASSWORD, options: { data: options.data } });
  assert.equal(error, null);
  assert.ok(data.session, 'autoconfirm gives a session');
  return { auth, email, session: data.session, user: data.user };
}

/** A second client signed in as the same user, with its own session. */
async function signedIn(server, email, password = PASSWORD) {
  const auth = client(server);
  const { data, error } = await auth.signInWithPassword({ email, password });
  assert.equal(error, null);
  return { auth, session: data.session };
}

/** Refreshes with a bare refresh token, outside any client's storage. */
function refreshWith(server, refreshToken) {
  return client(server).refreshSession({ refresh_token: refreshToken });
}

function nowSecs() {
  return Math.floor(Date.now() / 1000);
}

for (const backend of backends()) {
  describe(`authd on ${backend.name}`, { skip: backend.skip }, () => {
    // open: anything goes; strict: confirmation required, anonymous off, few password sign-ins;
    // closed: sign-up disabled.
    let open;
    let strict;
    let closed;

    before(async () => {
      open = await startAuthd(backend, { SIGNUP__AUTOCONFIRM: 'true', SIGNUP__ANONYMOUS: 'true', ...NO_LIMITS });
      strict = await startAuthd(backend, { RATE_LIMITS__PASSWORD_PER_MINUTE: '3' });
      closed = await startAuthd(backend, { SIGNUP__ENABLED: 'false' });
    });

    after(async () => {
      await Promise.all([open, strict, closed].filter(Boolean).map((server) => server.stop()));
    });

    describe('sign-up and sign-in', () => {
      it('signUp answers a session and the user in Supabase shape', async () => {
        const auth = client(open);
        const email = freshEmail();
        const { data, error } = await auth.signUp({
          email,
          password: PASSWORD,
          options: { data: { first_name: 'Ada', last_name: 'Lovelace' } },
        });
        assert.equal(error, null);
        const { session, user } = data;
        assert.equal(session.token_type, 'bearer');
        assert.equal(session.expires_in, 3600);
        assert.ok(Math.abs(session.expires_at - (nowSecs() + 3600)) <= 5);
        assert.ok(session.access_token.split('.').length === 3);
        assert.ok(session.refresh_token.length >= 12);

        assert.equal(user.email, email);
        assert.equal(user.aud, 'authenticated');
        assert.equal(user.role, 'authenticated');
        assert.equal(user.phone, '');
        assert.equal(user.is_anonymous, false);
        assert.ok(user.email_confirmed_at);
        assert.ok(user.created_at && user.updated_at);
        // Seeded as Supabase Auth seeds it: the email identity's fields over the data.
        assert.deepEqual(user.user_metadata, {
          first_name: 'Ada', last_name: 'Lovelace', sub: user.id, email, email_verified: true, phone_verified: false,
        });
        assert.equal(user.app_metadata.provider, 'email');
        assert.deepEqual(user.app_metadata.providers, ['email']);
        assert.equal(user.identities.length, 1);
        assert.equal(user.identities[0].provider, 'email');
        assert.equal(user.identities[0].user_id, user.id);

        const stored = await auth.getSession();
        assert.equal(stored.data.session.access_token, session.access_token);
        const signup = auth.requests.find((request) => request.url.endsWith('/signup'));
        assert.match(signup.headers.get('cache-control'), /no-store/);
      });

      it('signInWithPassword takes the email in any letter case', async () => {
        const { email, user } = await signedUp(open);
        const auth = client(open);
        const { data, error } = await auth.signInWithPassword({ email: email.toUpperCase(), password: PASSWORD });
        assert.equal(error, null);
        assert.equal(data.user.id, user.id);
        assert.ok(data.session.refresh_token);
        const token = auth.requests.find((request) => request.url.includes('/token?grant_type=password'));
        assert.match(token.headers.get('cache-control'), /no-store/);
      });

      it('a wrong password and an unknown address are the same invalid_credentials', async () => {
        const { email } = await signedUp(open);
        const wrong = await client(open).signInWithPassword({ email, password: 'not the password' });
        assertApiError(wrong.error, { code: 'invalid_credentials', status: 400 });
        const unknown = await client(open).signInWithPassword({ email: freshEmail(), password: PASSWORD });
        assertApiError(unknown.error, { code: 'invalid_credentials', status: 400 });
        assert.equal(wrong.error.message, unknown.error.message);
        assert.equal(wrong.data.session, null);
      });

      it('a repeat signUp of a registered address is user_already_exists', async () => {
        const { email } = await signedUp(open);
        const { data, error } = await client(open).signUp({ email, password: 'another password 1' });
        assertApiError(error, { code: 'user_already_exists', status: 422 });
        assert.equal(data.session, null);
      });

      it('a username signs in, in any letter case, with grant_type in the query or the body', async () => {
        const email = freshEmail();
        const username = freshUsername('Grace');
        const signup = await call(open, 'POST', '/signup', {
          json: { email, username, password: PASSWORD, data: { first_name: 'Grace' } },
        });
        assert.equal(signup.status, 200);
        assert.equal(signup.body.user.username, username, 'kept as written');

        const byQuery = await call(open, 'POST', '/token?grant_type=password', {
          json: { username: username.toUpperCase(), password: PASSWORD },
        });
        assert.equal(byQuery.status, 200);
        const byBody = await call(open, 'POST', '/token', {
          json: { grant_type: 'password', username, password: PASSWORD },
        });
        assert.equal(byBody.status, 200);
        assert.equal(byBody.body.user.id, signup.body.user.id);

        // The session obtained by username is an ordinary auth-js session.
        const auth = client(open);
        const { error } = await auth.setSession({
          access_token: byBody.body.access_token,
          refresh_token: byBody.body.refresh_token,
        });
        assert.equal(error, null);
        const { data } = await auth.getUser();
        assert.equal(data.user.email, email);
        assert.equal(data.user.user_metadata.first_name, 'Grace');

        const taken = await call(open, 'POST', '/signup', {
          json: { email: freshEmail(), username: username.toUpperCase(), password: PASSWORD },
        });
        assert.equal(taken.status, 422);
        assert.equal(taken.body.error_code, 'username_exists');
      });

      it('with confirmation required, signUp answers the bare user and sign-in is email_not_confirmed', async () => {
        const auth = client(strict);
        const email = freshEmail();
        const { data, error } = await auth.signUp({ email, password: PASSWORD });
        assert.equal(error, null);
        assert.equal(data.session, null);
        assert.equal(data.user.email, email);
        assert.ok(!data.user.email_confirmed_at);

        const signIn = await client(strict).signInWithPassword({ email, password: PASSWORD });
        assertApiError(signIn.error, { code: 'email_not_confirmed', status: 400 });
      });

      it('with confirmation required, a repeat signUp does not reveal the account', async () => {
        const email = freshEmail();
        const first = await client(strict).signUp({ email, password: PASSWORD });
        const again = await client(strict).signUp({ email, password: 'a different password' });
        assert.equal(first.error, null);
        assert.equal(again.error, null);
        assert.equal(again.data.session, null);
        assert.equal(again.data.user.email, email);
      });

      it('with confirmation required, a repeat signUp of a confirmed address does not reveal it either', {
        skip: backend.fresh && 'needs two servers on one database',
      }, async () => {
        const { email, user } = await signedUp(open);
        const { data, error } = await client(strict).signUp({ email, password: 'a different password' });
        assert.equal(error, null);
        assert.equal(data.session, null);
        assert.equal(data.user.email, email);
        assert.notEqual(data.user.id, user.id, 'a stand-in, not the account');
        const signIn = await client(open).signInWithPassword({ email, password: PASSWORD });
        assert.equal(signIn.error, null, 'the account is untouched');
      });

      it('sign-up disabled is signup_disabled', async () => {
        const { error } = await client(closed).signUp({ email: freshEmail(), password: PASSWORD });
        assertApiError(error, { code: 'signup_disabled', status: 422 });
      });

      it('signInAnonymously creates an anonymous user; disabled it is anonymous_provider_disabled', async () => {
        const auth = client(open);
        const { data, error } = await auth.signInAnonymously({ options: { data: { theme: 'dark' } } });
        assert.equal(error, null);
        assert.equal(data.user.is_anonymous, true);
        assert.equal(data.user.email ?? '', '');
        assert.deepEqual(data.user.user_metadata, { theme: 'dark' });
        const claims = await auth.getClaims();
        assert.equal(claims.error, null);
        assert.equal(claims.data.claims.is_anonymous, true);
        assert.equal(claims.data.claims.role, 'authenticated');
        const refreshed = await auth.refreshSession();
        assert.equal(refreshed.error, null);
        assert.equal(refreshed.data.user.is_anonymous, true);

        const refused = await client(strict).signInAnonymously();
        assertApiError(refused.error, { code: 'anonymous_provider_disabled', status: 422 });
      });

      it('too many password sign-ins from one address are over_request_rate_limit', async () => {
        let error = null;
        for (let attempt = 0; attempt < 10 && error?.status !== 429; attempt += 1) {
          ({ error } = await client(strict).signInWithPassword({ email: freshEmail(), password: PASSWORD }));
        }
        assertApiError(error, { code: 'over_request_rate_limit', status: 429 });
      });
    });

    describe('the user', () => {
      it('getUser answers the stored user', async () => {
        const { auth, user } = await signedUp(open, { data: { first_name: 'Ada' } });
        const { data, error } = await auth.getUser();
        assert.equal(error, null);
        assert.equal(data.user.id, user.id);
        assert.equal(data.user.user_metadata.first_name, 'Ada');
        assert.ok(auth.requests.some((request) => request.method === 'GET' && request.url.endsWith('/user')));
      });

      it('getUser with a forged token is refused', async () => {
        const { session } = await signedUp(open);
        const [header, payload] = session.access_token.split('.');
        const { error } = await client(open).getUser(`${header}.${payload}.AAAA`);
        assertApiError(error, { code: 'bad_jwt', status: 403 });
      });

      it('updateUser merges data into user_metadata', async () => {
        const { auth, email, user } = await signedUp(open, { data: { first_name: 'Ada', last_name: 'Lovelace' } });
        const { data, error } = await auth.updateUser({ data: { last_name: 'King', title: 'Countess' } });
        assert.equal(error, null);
        assert.deepEqual(data.user.user_metadata, {
          first_name: 'Ada', last_name: 'King', sub: user.id, email, email_verified: true, phone_verified: false,
          title: 'Countess',
        });
        const fetched = await auth.getUser();
        assert.deepEqual(fetched.data.user.user_metadata, data.user.user_metadata);
        // New access tokens carry the new metadata.
        const refreshed = await auth.refreshSession();
        const claims = await auth.getClaims(refreshed.data.session.access_token);
        assert.equal(claims.data.claims.user_metadata.title, 'Countess');
      });

      it('updateUser cannot set app_metadata or role', async () => {
        const { auth } = await signedUp(open);
        const { error } = await auth.updateUser({ app_metadata: { admin: true } });
        assertApiError(error, { code: 'not_admin', status: 403 });
        const roleChange = await auth.updateUser({ role: 'service_role' });
        assertApiError(roleChange.error, { code: 'not_admin', status: 403 });
        const { data } = await auth.getUser();
        assert.equal(data.user.role, 'authenticated');
        assert.equal(data.user.app_metadata.admin, undefined);
      });

      it('a password change needs the current password and obeys the policy', async () => {
        const { auth, email } = await signedUp(open);
        const newPassword = 'a much better passphrase';

        const missing = await auth.updateUser({ password: newPassword });
        assertApiError(missing.error, { code: 'current_password_required' });
        const wrong = await auth.updateUser({ password: newPassword, current_password: 'not it at all' });
        assertApiError(wrong.error, { code: 'current_password_invalid' });
        const weak = await auth.updateUser({ password: 'short', current_password: PASSWORD });
        assertApiError(weak.error, { kind: AuthWeakPasswordError, code: 'weak_password', status: 422 });
        assert.ok(weak.error.reasons.length > 0);
        const same = await auth.updateUser({ password: PASSWORD, current_password: PASSWORD });
        assertApiError(same.error, { code: 'same_password', status: 422 });

        const changed = await auth.updateUser({ password: newPassword, current_password: PASSWORD });
        assert.equal(changed.error, null);
        const oldPassword = await client(open).signInWithPassword({ email, password: PASSWORD });
        assertApiError(oldPassword.error, { code: 'invalid_credentials' });
        const fresh = await client(open).signInWithPassword({ email, password: newPassword });
        assert.equal(fresh.error, null);
      });

      it('DELETE /user ends the account and every session at once', async () => {
        const { auth, email, session } = await signedUp(open);
        const other = await signedIn(open, email);

        const wrong = await call(open, 'DELETE', '/user', { token: session.access_token, json: { password: 'nope' } });
        assert.equal(wrong.status, 400);
        const deleted = await call(open, 'DELETE', '/user', { token: session.access_token, json: { password: PASSWORD } });
        assert.ok(deleted.status === 200 || deleted.status === 204, `status ${deleted.status}`);

        // As Supabase Auth: the deleted user's token is 403 user_not_found.
        const user = await auth.getUser();
        assertApiError(user.error, { code: 'user_not_found', status: 403 });
        const refresh = await other.auth.refreshSession();
        assertApiError(refresh.error, { status: 400 });
        const signIn = await client(open).signInWithPassword({ email, password: PASSWORD });
        assertApiError(signIn.error, { code: 'invalid_credentials' });
      });
    });

    describe('sessions', () => {
      it('refreshSession rotates the refresh token and issues a new access token', async () => {
        const { auth, session } = await signedUp(open);
        const { data, error } = await auth.refreshSession();
        assert.equal(error, null);
        assert.notEqual(data.session.refresh_token, session.refresh_token);
        assert.equal(data.user.id, session.user.id);
        const stored = await auth.getSession();
        assert.equal(stored.data.session.refresh_token, data.session.refresh_token);
        const user = await auth.getUser();
        assert.equal(user.error, null);
        const refresh = auth.requests.find((request) => request.url.includes('grant_type=refresh_token'));
        assert.match(refresh.headers.get('cache-control'), /no-store/);
      });

      it('the previous token, presented again within the reuse interval, answers the live one', async () => {
        const { auth, session } = await signedUp(open);
        const rotated = await auth.refreshSession();
        const replay = await refreshWith(open, session.refresh_token);
        assert.equal(replay.error, null);
        assert.equal(replay.data.session.refresh_token, rotated.data.session.refresh_token);
        assert.equal(replay.data.session.user.id, session.user.id);
      });

      it('an older token presented again revokes the whole session (reuse detection)', async () => {
        const { auth, session: first } = await signedUp(open);
        await auth.refreshSession();
        const { data: latest } = await auth.refreshSession();

        const reuse = await refreshWith(open, first.refresh_token);
        assertApiError(reuse.error, { code: 'refresh_token_already_used', status: 400 });

        const live = await refreshWith(open, latest.session.refresh_token);
        assertApiError(live.error, { status: 400 });
        const user = await client(open).getUser(latest.session.access_token);
        assertApiError(user.error, { kind: AuthSessionMissingError });
      });

      it('concurrent refreshes from several clients get one successor and leave one live token', async () => {
        const { session } = await signedUp(open);
        const clients = Array.from({ length: 8 }, () => client(open));
        for (const auth of clients) {
          const { error } = await auth.setSession({
            access_token: session.access_token,
            refresh_token: session.refresh_token,
          });
          assert.equal(error, null);
        }
        const results = await Promise.all(clients.map((auth) => auth.refreshSession()));
        for (const { error } of results) assert.equal(error, null);
        const successors = new Set(results.map(({ data }) => data.session.refresh_token));
        assert.equal(successors.size, 1, 'every client got the same successor');
        const [successor] = successors;
        assert.notEqual(successor, session.refresh_token);

        const next = await clients[0].refreshSession();
        assert.equal(next.error, null);
        const again = await clients[1].getUser(next.data.session.access_token);
        assert.equal(again.error, null);
      });

      it('an unknown refresh token is refresh_token_not_found', async () => {
        const { error } = await refreshWith(open, 'no-such-refresh-token');
        assertApiError(error, { code: 'refresh_token_not_found', status: 400 });
      });

      it('signOut local ends only this session', async () => {
        const { auth, email, session } = await signedUp(open);
        const other = await signedIn(open, email);

        const { error } = await auth.signOut({ scope: 'local' });
        assert.equal(error, null);
        assert.equal((await auth.getSession()).data.session, null);
        assertApiError((await refreshWith(open, session.refresh_token)).error, { status: 400 });
        assertApiError((await client(open).getUser(session.access_token)).error, { kind: AuthSessionMissingError });

        assert.equal((await other.auth.getUser()).error, null);
        assert.equal((await other.auth.refreshSession()).error, null);
      });

      it('signOut others ends every other session and keeps this one', async () => {
        const { auth, email } = await signedUp(open);
        const other = await signedIn(open, email);

        const { error } = await auth.signOut({ scope: 'others' });
        assert.equal(error, null);
        assert.equal((await auth.getUser()).error, null);
        assert.equal((await auth.refreshSession()).error, null);

        assertApiError((await other.auth.getUser()).error, { kind: AuthSessionMissingError });
        assertApiError((await refreshWith(open, other.session.refresh_token)).error, { status: 400 });
      });

      it('signOut (global) ends every session of the user', async () => {
        const { auth, email, session } = await signedUp(open);
        const other = await signedIn(open, email);

        const { error } = await auth.signOut();
        assert.equal(error, null);
        assert.equal((await auth.getSession()).data.session, null);
        assertApiError((await client(open).getUser(session.access_token)).error, { kind: AuthSessionMissingError });
        assertApiError((await other.auth.getUser()).error, { kind: AuthSessionMissingError });
        assertApiError((await refreshWith(open, other.session.refresh_token)).error, { status: 400 });
      });

      it('getClaims verifies ES256 tokens through the JWKS, fetched once', async () => {
        const { auth, user } = await signedUp(open);
        const { data, error } = await auth.getClaims();
        assert.equal(error, null);
        const { claims, header } = data;
        assert.equal(header.alg, 'ES256');
        assert.ok(header.kid);
        assert.equal(claims.sub, user.id);
        assert.equal(claims.email, user.email);
        assert.equal(claims.aud, 'authenticated');
        assert.equal(claims.role, 'authenticated');
        assert.equal(claims.aal, 'aal1');
        assert.equal(claims.is_anonymous, false);
        assert.ok(claims.session_id);
        assert.equal(claims.exp - claims.iat, 3600);
        assert.equal(claims.amr[0].method, 'password');
        assert.equal(claims.app_metadata.provider, 'email');

        assert.equal((await auth.getClaims()).error, null);
        const jwksFetches = auth.requests.filter((request) => request.url.endsWith('/.well-known/jwks.json'));
        assert.equal(jwksFetches.length, 1, 'the JWKS is cached');
        assert.ok(!auth.requests.some((request) => request.url.endsWith('/user')), 'no GET /user');

        const [head, , signature] = (await auth.getSession()).data.session.access_token.split('.');
        const forged = Buffer.from(JSON.stringify({ ...claims, role: 'service_role' })).toString('base64url');
        const tampered = await auth.getClaims(`${head}.${forged}.${signature}`);
        assertApiError(tampered.error, { kind: AuthInvalidJwtError });
      });

      it('with api.require_key, clients need the anon key as supabase-js sends it', async () => {
        const server = await startAuthd(backend, { SIGNUP__AUTOCONFIRM: 'true', API__REQUIRE_KEY: 'true' });
        try {
          const keys = JSON.parse(server.cli(['keys', 'api', '--json']));
          const bare = await client(server).signUp({ email: freshEmail(), password: PASSWORD });
          assertApiError(bare.error, { code: 'no_api_key', status: 401 });

          const headers = { apikey: keys.anon_key, Authorization: `Bearer ${keys.anon_key}` };
          const { auth } = await signedUp(server, { headers });
          assert.equal((await auth.getUser()).error, null);
          assert.equal((await auth.refreshSession()).error, null);
          assert.equal((await auth.signOut()).error, null);

          const forged = { apikey: `${keys.anon_key.slice(0, -4)}AAAA` };
          const refused = await client(server, { headers: forged }).signUp({ email: freshEmail(), password: PASSWORD });
          assertApiError(refused.error, { code: 'invalid_api_key', status: 401 });
        } finally {
          await server.stop();
        }
      });

      it('a server that does not answer surfaces as AuthRetryableFetchError', async () => {
        const server = await startAuthd(backend, { SIGNUP__AUTOCONFIRM: 'true' });
        const { auth } = await signedUp(server);
        await server.stop();
        const { error } = await auth.getUser();
        assertApiError(error, { kind: AuthRetryableFetchError, status: 0 });
      });
    });

    describe('email flows', () => {
      // Confirmation required; mail goes to .eml files in the server's folder.
      let mailing;
      before(async () => {
        mailing = await startAuthd(backend, { ...NO_LIMITS, OTP__SEND_INTERVAL_SECS: '0' });
      });
      after(async () => mailing?.stop());

      it('signUp then verifyOtp with the emailed code confirms and signs in; resend sends a new code', async () => {
        const auth = client(mailing);
        const email = freshEmail('confirm');
        const { data, error } = await auth.signUp({ email, password: PASSWORD });
        assert.equal(error, null);
        assert.equal(data.session, null);
        const first = await mailing.mail(email);
        assert.match(first.code, /^\d{6}$/);

        const resent = await auth.resend({ type: 'signup', email });
        assert.equal(resent.error, null);
        const second = await mailing.mail(email, 2);
        const stale = await client(mailing).verifyOtp({ email, token: first.code, type: 'signup' });
        assertApiError(stale.error, { code: 'otp_expired', status: 403 });

        const verified = await auth.verifyOtp({ email, token: second.code, type: 'signup' });
        assert.equal(verified.error, null);
        assert.ok(verified.data.session.access_token);
        assert.ok(verified.data.user.email_confirmed_at);
        assert.equal((await auth.getUser()).data.user.email, email);
        assert.equal((await client(mailing).signInWithPassword({ email, password: PASSWORD })).error, null);
      });

      it('resetPasswordForEmail, verifyOtp type recovery, then updateUser sets a new password', async () => {
        const email = freshEmail('reset');
        await client(mailing).signUp({ email, password: PASSWORD });
        const confirmation = await mailing.mail(email);
        await client(mailing).verifyOtp({ email, token: confirmation.code, type: 'signup' });

        const auth = client(mailing);
        const asked = await auth.resetPasswordForEmail(email, { redirectTo: 'http://localhost:3000/reset' });
        assert.equal(asked.error, null);
        const recovery = await mailing.mail(email, 2);
        assert.ok(recovery.tokenHash, recovery.text);
        const verified = await auth.verifyOtp({ token_hash: recovery.tokenHash, type: 'recovery' });
        assert.equal(verified.error, null);
        const changed = await auth.updateUser({ password: 'a fresh passphrase' });
        assert.equal(changed.error, null, 'a recovery session needs no current password');
        assert.equal((await client(mailing).signInWithPassword({ email, password: 'a fresh passphrase' })).error, null);

        const unknown = await client(mailing).resetPasswordForEmail(freshEmail('nobody'));
        assert.equal(unknown.error, null, 'unknown addresses answer alike');
      });

      it('admin inviteUserByEmail mails an invitation that verifyOtp type invite accepts', async () => {
        const keys = JSON.parse(mailing.cli(['keys', 'api', '--json']));
        const headers = { apikey: keys.service_role_key, Authorization: `Bearer ${keys.service_role_key}` };
        const admin = client(mailing, { headers }).admin;
        const email = freshEmail('invited');
        const invited = await admin.inviteUserByEmail(email, { data: { team: 'ops' } });
        assert.equal(invited.error, null);
        assert.equal(invited.data.user.email, email);
        const mail = await mailing.mail(email);
        const auth = client(mailing);
        const accepted = await auth.verifyOtp({ email, token: mail.code, type: 'invite' });
        assert.equal(accepted.error, null);
        assert.equal(accepted.data.user.user_metadata.team, 'ops');
        assert.equal((await auth.updateUser({ password: 'first chosen password' })).error, null);
      });

      it('admin generateLink returns a link and code without mailing; verifyOtp redeems them', async () => {
        const keys = JSON.parse(mailing.cli(['keys', 'api', '--json']));
        const headers = { apikey: keys.service_role_key, Authorization: `Bearer ${keys.service_role_key}` };
        const admin = client(mailing, { headers }).admin;
        const email = freshEmail('generated');
        const { data, error } = await admin.generateLink({ type: 'signup', email, password: PASSWORD });
        assert.equal(error, null);
        assert.equal(data.user.email, email);
        assert.equal(data.properties.verification_type, 'signup');
        assert.match(data.properties.email_otp, /^\d{6}$/);
        assert.match(data.properties.action_link, /\/verify\?token=/);
        const verified = await client(mailing).verifyOtp({ token_hash: data.properties.hashed_token, type: 'signup' });
        assert.equal(verified.error, null);

        const recovery = await admin.generateLink({ type: 'recovery', email });
        assert.equal(recovery.error, null);
        const byCode = await client(mailing).verifyOtp({ email, token: recovery.data.properties.email_otp, type: 'recovery' });
        assert.equal(byCode.error, null);
        const missing = await admin.generateLink({ type: 'recovery', email: freshEmail('missing') });
        assertApiError(missing.error, { code: 'user_not_found', status: 404 });
      });

      it('admin generateLink makes email change links; the user shows new_email until verifyOtp confirms', async () => {
        const keys = JSON.parse(mailing.cli(['keys', 'api', '--json']));
        const headers = { apikey: keys.service_role_key, Authorization: `Bearer ${keys.service_role_key}` };
        const admin = client(mailing, { headers }).admin;
        const email = freshEmail('changing');
        const created = await admin.createUser({ email, password: PASSWORD, email_confirm: true });
        assert.equal(created.error, null);
        const newEmail = freshEmail('changed');
        const { data, error } = await admin.generateLink({ type: 'email_change_new', email, newEmail });
        assert.equal(error, null);
        assert.equal(data.properties.verification_type, 'email_change_new');
        assert.match(data.properties.action_link, /type=email_change/);
        assert.equal(data.user.new_email, newEmail);
        assert.ok(data.user.email_change_sent_at);
        const verified = await client(mailing).verifyOtp({ token_hash: data.properties.hashed_token, type: 'email_change' });
        assert.equal(verified.error, null);
        assert.equal(verified.data.user.email, newEmail);
        assert.equal(verified.data.user.new_email, undefined);
      });

      it('the user object carries the fields Supabase Auth sends', async () => {
        const email = freshEmail('fields');
        const auth = client(mailing);
        const { data, error } = await auth.signUp({ email, password: PASSWORD, options: { data: { full_name: 'Ada' } } });
        assert.equal(error, null);
        const { user } = data;
        assert.deepEqual(user.user_metadata, {
          full_name: 'Ada', sub: user.id, email, email_verified: false, phone_verified: false,
        });
        assert.equal(user.identities[0].identity_id, user.id);
        assert.equal(user.identities[0].identity_data.email, email);
        assert.ok(user.confirmation_sent_at);
        const mail = await mailing.mail(email);
        const verified = await auth.verifyOtp({ email, token: mail.code, type: 'signup' });
        assert.equal(verified.error, null);
        assert.equal(verified.data.user.user_metadata.email_verified, true);
        assert.equal((await client(mailing).resetPasswordForEmail(email)).error, null);
        assert.equal((await auth.reauthenticate()).error, null);
        const { data: current } = await auth.getUser();
        assert.ok(current.user.recovery_sent_at && current.user.reauthentication_sent_at, JSON.stringify(current.user));
      });

      it('with compat.verify_links_at_once, following a link redeems it and lands with the session', async () => {
        const server = await startAuthd(backend, { ...NO_LIMITS, COMPAT__VERIFY_LINKS_AT_ONCE: 'true' });
        try {
          const email = freshEmail('at-once');
          assert.equal((await client(server).signUp({ email, password: PASSWORD })).error, null);
          const followed = await fetch((await server.mail(email)).link, { redirect: 'manual' });
          assert.equal(followed.status, 303);
          const landing = new URL(followed.headers.get('location'));
          const fragment = new URLSearchParams(landing.hash.slice(1));
          assert.equal(fragment.get('type'), 'signup');
          const auth = client(server);
          const set = await auth.setSession({
            access_token: fragment.get('access_token'),
            refresh_token: fragment.get('refresh_token'),
          });
          assert.equal(set.error, null);
          assert.equal(set.data.user.email, email);
          assert.ok(set.data.user.email_confirmed_at);
        } finally {
          await server.stop();
        }
      });

      it('reauthenticate mails a code that updateUser takes once as nonce', async () => {
        const email = freshEmail('reauth');
        await client(mailing).signUp({ email, password: PASSWORD });
        const confirmation = await mailing.mail(email);
        const auth = client(mailing);
        assert.equal((await auth.verifyOtp({ email, token: confirmation.code, type: 'signup' })).error, null);

        assert.equal((await auth.reauthenticate()).error, null);
        const nonce = (await mailing.mail(email, 2)).code;
        const changed = await auth.updateUser({ password: 'changed with a nonce', nonce });
        assert.equal(changed.error, null);
        const reused = await auth.updateUser({ password: 'changed twice over', nonce });
        assertApiError(reused.error, { code: 'reauthentication_not_valid', status: 422 });
        assert.equal(reused.error.message, 'Nonce has expired or is invalid');
        assert.equal((await client(mailing).signInWithPassword({ email, password: 'changed with a nonce' })).error, null);
      });

      it('updateUser with a new email changes it once both addresses confirm; resend sends its mails again', async () => {
        const email = freshEmail('old');
        const next = freshEmail('new');
        await client(mailing).signUp({ email, password: PASSWORD });
        const confirmation = await mailing.mail(email);
        const auth = client(mailing);
        assert.equal((await auth.verifyOtp({ email, token: confirmation.code, type: 'signup' })).error, null);

        const asked = await auth.updateUser({ email: next });
        assert.equal(asked.error, null);
        assert.equal(asked.data.user.email, email, 'unchanged until both confirm');
        const resent = await client(mailing).resend({ type: 'email_change', email });
        assert.equal(resent.error, null, 'resend email_change sends both halves again');
        const toOld = await mailing.mail(email, 3);
        const toNew = await mailing.mail(next, 2);
        const stale = await client(mailing).verifyOtp({ email, token: (await mailing.mail(email, 2)).code, type: 'email_change' });
        assertApiError(stale.error, { code: 'otp_expired', status: 403 });
        const first = await client(mailing).verifyOtp({ email, token: toOld.code, type: 'email_change' });
        assert.equal(first.error, null);
        assert.equal(first.data.session, null, 'the other address has yet to confirm');
        const second = await client(mailing).verifyOtp({ email: next, token: toNew.code, type: 'email_change' });
        assert.equal(second.error, null);
        assert.equal(second.data.user.email, next);
        assert.equal((await client(mailing).signInWithPassword({ email: next, password: PASSWORD })).error, null);
      });

      it('signInWithOtp sends a code that verifyOtp type email redeems once', async () => {
        const email = freshEmail('otp');
        const auth = client(mailing);
        const sent = await auth.signInWithOtp({ email });
        assert.equal(sent.error, null);
        const mail = await mailing.mail(email);
        const wrong = await client(mailing).verifyOtp({ email, token: '000000', type: 'email' });
        assertApiError(wrong.error, { code: 'otp_expired', status: 403 });
        const verified = await auth.verifyOtp({ email, token: mail.code, type: 'email' });
        assert.equal(verified.error, null, 'a new address signed up by code');
        assert.equal(verified.data.user.email, email);
        const again = await client(mailing).verifyOtp({ email, token: mail.code, type: 'email' });
        assertApiError(again.error, { code: 'otp_expired' });

        const none = await client(mailing).signInWithOtp({
          email: freshEmail('none'),
          options: { shouldCreateUser: false },
        });
        if (supabaseCompat) {
          assertApiError(none.error, { code: 'otp_disabled', status: 422 });
        } else {
          assert.equal(none.error, null, 'answers alike for unknown addresses');
        }
      });

      it('with compat.supabase, shouldCreateUser false for an unknown address is otp_disabled', async () => {
        const server = await startAuthd(backend, { ...NO_LIMITS, SIGNUP__AUTOCONFIRM: 'true', COMPAT__SUPABASE: 'true' });
        try {
          const refused = await client(server).signInWithOtp({
            email: freshEmail('nobody'),
            options: { shouldCreateUser: false },
          });
          assertApiError(refused.error, { code: 'otp_disabled', status: 422 });
          assert.equal(refused.error.message, 'Signups not allowed for otp');
          const { email } = await signedUp(server);
          const known = await client(server).signInWithOtp({ email, options: { shouldCreateUser: false } });
          assert.equal(known.error, null, 'a known address gets its code');
        } finally {
          await server.stop();
        }
      });

      it('PKCE: a magic link lands with ?code= that exchangeCodeForSession redeems once', async () => {
        const email = freshEmail('pkce');
        const auth = client(mailing, { flowType: 'pkce' });
        const sent = await auth.signInWithOtp({ email, options: { emailRedirectTo: 'http://localhost:3000/cb' } });
        assert.equal(sent.error, null);
        const otpRequest = auth.requests.find((r) => r.url.includes('/otp'));
        assert.ok(otpRequest, 'signInWithOtp called /otp');
        const mail = await mailing.mail(email);
        assert.match(mail.tokenHash, /^pkce_/);

        const landing = await openLink(mail.link);
        assert.equal(`${landing.origin}${landing.pathname}`, 'http://localhost:3000/cb');
        const code = landing.searchParams.get('code');
        assert.ok(code, `an auth code in the query: ${landing}`);
        assert.equal(landing.hash, '', 'no session in the URL');

        const events = [];
        auth.onAuthStateChange((event) => events.push(event));
        const exchanged = await auth.exchangeCodeForSession(code);
        assert.equal(exchanged.error, null);
        assert.equal(exchanged.data.user.email, email);
        assert.ok(exchanged.data.session.access_token);
        assert.ok(events.includes('SIGNED_IN'), `events: ${events}`);
        assert.equal((await auth.getUser()).data.user.email, email);

        const again = await client(mailing, { flowType: 'pkce' }).exchangeCodeForSession(code);
        assert.ok(again.error, 'a second exchange fails');
        const replay = await call(mailing, 'POST', '/token?grant_type=pkce', {
          json: { auth_code: code, code_verifier: 'x'.repeat(64) },
        });
        assert.equal(replay.status, 404);
        assert.equal(replay.body.error_code, 'flow_state_not_found');
      });

      it('PKCE: resetPasswordForEmail, the link, exchangeCodeForSession gives PASSWORD_RECOVERY, then updateUser', async () => {
        const email = freshEmail('pkce-reset');
        await client(mailing).signUp({ email, password: PASSWORD });
        const confirmation = await mailing.mail(email);
        await client(mailing).verifyOtp({ email, token: confirmation.code, type: 'signup' });

        const auth = client(mailing, { flowType: 'pkce' });
        const asked = await auth.resetPasswordForEmail(email, { redirectTo: 'http://localhost:3000/reset' });
        assert.equal(asked.error, null);
        const landing = await openLink((await mailing.mail(email, 2)).link);
        const events = [];
        auth.onAuthStateChange((event) => events.push(event));
        const exchanged = await auth.exchangeCodeForSession(landing.searchParams.get('code'));
        assert.equal(exchanged.error, null);
        assert.ok(events.includes('PASSWORD_RECOVERY'), `events: ${events}`);
        assert.equal((await auth.updateUser({ password: 'recovered by pkce' })).error, null);
        assert.equal((await client(mailing).signInWithPassword({ email, password: 'recovered by pkce' })).error, null);
      });

      it('PKCE: updateUser email in the PKCE flow lands with a code once both addresses confirm', async () => {
        const email = freshEmail('pkce-old');
        const next = freshEmail('pkce-new');
        await client(mailing).signUp({ email, password: PASSWORD });
        const confirmation = await mailing.mail(email);
        const auth = client(mailing, { flowType: 'pkce' });
        assert.equal((await auth.verifyOtp({ email, token: confirmation.code, type: 'signup' })).error, null);

        const asked = await auth.updateUser({ email: next }, { emailRedirectTo: 'http://localhost:3000/changed' });
        assert.equal(asked.error, null);
        const first = await openLink((await mailing.mail(email, 2)).link);
        assert.match(first.searchParams.get('message') ?? '', /other email/);
        const second = await openLink((await mailing.mail(next, 1)).link);
        const exchanged = await auth.exchangeCodeForSession(second.searchParams.get('code'));
        assert.equal(exchanged.error, null);
        assert.equal(exchanged.data.user.email, next);
      });
    });

    describe('admin API', () => {
      /** An auth-js client holding the service-role key, as a server-side supabase-js would. */
      function adminClient(server) {
        const keys = JSON.parse(server.cli(['keys', 'api', '--json']));
        const headers = { apikey: keys.service_role_key, Authorization: `Bearer ${keys.service_role_key}` };
        return client(server, { headers }).admin;
      }

      it('deleteUser(id, true) soft-deletes: the row stays with deleted_at and the address is free', async () => {
        const admin = adminClient(open);
        const email = freshEmail('soft');
        const id = '0b9d7c51-2f4e-4a8b-9c3d-' + String(Date.now()).slice(-12).padStart(12, '0');
        const created = await admin.createUser({ id, email, password: PASSWORD, email_confirm: true });
        assert.equal(created.error, null);
        assert.equal(created.data.user.id, id, 'createUser takes the id given');
        assert.equal((await admin.deleteUser(id, true)).error, null);
        const { data, error } = await admin.getUserById(id);
        assert.equal(error, null);
        assert.ok(data.user.deleted_at);
        assert.equal(data.user.email, '');
        assert.deepEqual(data.user.identities, []);
        const signIn = await client(open).signInWithPassword({ email, password: PASSWORD });
        assertApiError(signIn.error, { code: 'invalid_credentials', status: 400 });
        assert.equal((await admin.createUser({ email, password: PASSWORD })).error, null, 'the address is free');
        assertApiError((await admin.deleteUser(id, true)).error, { code: 'user_not_found', status: 404 });
      });

      it('an anonymous user who adds a username and a password is anonymous no longer', async () => {
        const auth = client(open);
        const { error } = await auth.signInAnonymously();
        assert.equal(error, null);
        const updated = await auth.updateUser({ username: freshUsername('anon'), password: PASSWORD });
        assert.equal(updated.error, null);
        assert.equal(updated.data.user.is_anonymous, false);
      });

      it('createUser, getUserById, updateUserById, listUsers and deleteUser', async () => {
        const admin = adminClient(open);
        const email = freshEmail('admin-made');
        const created = await admin.createUser({
          email,
          password: PASSWORD,
          email_confirm: true,
          user_metadata: { first_name: 'Ada' },
          app_metadata: { plan: 'pro' },
        });
        assert.equal(created.error, null);
        const { user } = created.data;
        assert.equal(user.email, email);
        assert.ok(user.email_confirmed_at);
        assert.equal(user.app_metadata.plan, 'pro');
        assert.equal(user.app_metadata.provider, 'email');
        const duplicate = await admin.createUser({ email, password: PASSWORD });
        assertApiError(duplicate.error, { code: 'email_exists', status: 422 });

        const fetched = await admin.getUserById(user.id);
        assert.equal(fetched.data.user.id, user.id);
        const missing = await admin.getUserById('00000000-0000-4000-8000-000000000000');
        assertApiError(missing.error, { code: 'user_not_found', status: 404 });

        const updated = await admin.updateUserById(user.id, { user_metadata: { last_name: 'Lovelace' } });
        assert.equal(updated.error, null);
        assert.deepEqual(updated.data.user.user_metadata, { first_name: 'Ada', last_name: 'Lovelace' });
        const signIn = await client(open).signInWithPassword({ email, password: PASSWORD });
        assert.equal(signIn.error, null, 'an admin-made, confirmed user signs in');

        const deleted = await admin.deleteUser(user.id);
        assert.equal(deleted.error, null);
        assert.equal(deleted.data.user.id, user.id);
        assertApiError((await admin.getUserById(user.id)).error, { code: 'user_not_found' });
        // As Supabase Auth: a deleted user's access token is 403 user_not_found.
        const gone = (await client(open).getUser(signIn.data.session.access_token)).error;
        assertApiError(gone, { code: 'user_not_found', status: 403 });
        assert.equal(gone.message, 'User from sub claim in JWT does not exist');
      });

      it('listUsers pages the way auth-js reads Link and X-Total-Count', async () => {
        const server = await startAuthd(backend, { SIGNUP__AUTOCONFIRM: 'true', ...NO_LIMITS });
        try {
          const admin = adminClient(server);
          const label = `page${Date.now()}`;
          for (let n = 0; n < 5; n += 1) {
            const { error } = await admin.createUser({ email: freshEmail(label), email_confirm: true });
            assert.equal(error, null);
          }
          const everyone = await admin.listUsers();
          assert.equal(everyone.error, null);
          const { total } = everyone.data;
          assert.ok(total >= 5);
          assert.equal(everyone.data.users.length, Math.min(total, 50), 'the default page holds 50');
          // auth-js reads only the first digit of a page number, so keep to fewer than 10 pages.
          const perPage = Math.max(2, Math.ceil(total / 5));
          const { data, error } = await admin.listUsers({ page: 1, perPage });
          assert.equal(error, null);
          assert.equal(data.users.length, perPage);
          assert.equal(data.nextPage, 2);
          assert.equal(data.total, total);
          assert.equal(data.lastPage, Math.ceil(total / perPage));
          const last = await admin.listUsers({ page: data.lastPage, perPage });
          assert.equal(last.data.nextPage, null);
          assert.equal(last.data.users.length, total - perPage * (data.lastPage - 1));
          const invalid = await admin.listUsers({ page: -1 });
          assertApiError(invalid.error, { code: 'validation_failed', status: 400 });
        } finally {
          await server.stop();
        }
      });

      it('a ban ends the sessions at once and lifting it lets the user back in', async () => {
        const admin = adminClient(open);
        const { auth, email, user } = await signedUp(open);
        const banned = await admin.updateUserById(user.id, { ban_duration: '24h' });
        assert.equal(banned.error, null);
        assert.ok(banned.data.user.banned_until);
        // As Supabase Auth: a banned user's access token is 403 user_banned, on every endpoint.
        assertApiError((await auth.getUser()).error, { code: 'user_banned', status: 403 });
        assertApiError((await auth.updateUser({ data: { k: 1 } })).error, { code: 'user_banned', status: 403 });
        const refused = await client(open).signInWithPassword({ email, password: PASSWORD });
        assertApiError(refused.error, { code: 'user_banned', status: 400 });

        const lifted = await admin.updateUserById(user.id, { ban_duration: 'none' });
        assert.equal(lifted.error, null);
        assert.equal((await client(open).signInWithPassword({ email, password: PASSWORD })).error, null);
      });

      it('admin.signOut ends the session of the token it is given', async () => {
        const admin = adminClient(open);
        const { session } = await signedUp(open);
        const { error } = await admin.signOut(session.access_token, 'global');
        assert.equal(error, null);
        assertApiError((await client(open).getUser(session.access_token)).error, { kind: AuthSessionMissingError });
      });

      it('the admin API refuses anon keys and user tokens', async () => {
        const keys = JSON.parse(open.cli(['keys', 'api', '--json']));
        const anon = client(open, { headers: { Authorization: `Bearer ${keys.anon_key}` } }).admin;
        assertApiError((await anon.listUsers()).error, { code: 'not_admin', status: 403 });
        const { session } = await signedUp(open);
        const asUser = client(open, { headers: { Authorization: `Bearer ${session.access_token}` } }).admin;
        assertApiError((await asUser.createUser({ email: freshEmail() })).error, { code: 'not_admin', status: 403 });
        const bare = client(open).admin;
        assertApiError((await bare.listUsers()).error, { code: 'no_authorization', status: 401 });
      });
    });

    describe('a project moved from Supabase keeps its JWT secret and API keys', () => {
      const JWT_SECRET = 'Vd3kq8ZxP0mW5tLr2Yc7NfB1sJ9hG4uQ6eA8oK3iR0vT5wE2yU7pM1nX4zC9bH6j';

      /** `ANON_KEY` / `SERVICE_ROLE_KEY` as Supabase's self-hosting guide makes them. */
      function stockKey(role) {
        const iat = nowSecs() - 3600;
        return new SignJWT({ role, iss: 'supabase', iat, exp: iat + 5 * 365 * 86_400 })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .sign(new TextEncoder().encode(JWT_SECRET));
      }

      it('the anon key and the service-role key work through auth-js, as with Supabase Auth', async () => {
        const server = await startAuthd(backend, {
          SIGNUP__AUTOCONFIRM: 'true',
          API__REQUIRE_KEY: 'true',
          JWT__ALGORITHM: 'HS256',
          JWT__SECRET: JWT_SECRET,
          // An issuer of its own: the stock keys say `supabase`, which Supabase Auth never checks.
          JWT__ISSUER: 'https://auth.example.com/auth/v1',
          ...NO_LIMITS,
        });
        try {
          const [anonKey, serviceKey] = await Promise.all([stockKey('anon'), stockKey('service_role')]);
          const { auth, user } = await signedUp(server, { headers: { apikey: anonKey } });
          assert.equal((await auth.getUser()).error, null, "the user's own token still works");

          // supabase-js sends a service-role key as both apikey and bearer.
          const headers = { apikey: serviceKey, Authorization: `Bearer ${serviceKey}` };
          const admin = client(server, { headers }).admin;
          const listed = await admin.listUsers();
          assert.equal(listed.error, null);
          assert.ok(listed.data.users.some((u) => u.id === user.id));
          const created = await admin.createUser({ email: freshEmail('stock'), email_confirm: true });
          assert.equal(created.error, null);
          assert.equal((await admin.deleteUser(created.data.user.id)).error, null);

          // auth-js's own integration tests sign `{ role: 'service_role' }` alone: no exp, no aud.
          const bare = await new SignJWT({ role: 'service_role' })
            .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
            .setIssuedAt()
            .sign(new TextEncoder().encode(JWT_SECRET));
          const bareAdmin = client(server, { headers: { apikey: anonKey, Authorization: `Bearer ${bare}` } }).admin;
          assert.equal((await bareAdmin.getUserById(user.id)).error, null);

          // The anon key is no admin key, and a key made with another secret says what is wrong.
          const anonAdmin = client(server, { headers: { apikey: anonKey, Authorization: `Bearer ${anonKey}` } }).admin;
          assertApiError((await anonAdmin.listUsers()).error, { code: 'not_admin', status: 403 });
          const forged = await new SignJWT({ role: 'service_role' })
            .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
            .sign(new TextEncoder().encode('another secret that is long enough to pass'));
          const refused = await call(server, 'GET', '/admin/users', { token: forged });
          assert.equal(refused.status, 403);
          assert.equal(refused.body.error_code, 'bad_jwt');
          assert.equal(refused.body.token_error, 'bad_signature');

          // `authd keys api --supabase` prints keys of the same shape.
          const printed = JSON.parse(server.cli(['keys', 'api', '--supabase', '--json']));
          const printedAdmin = client(server, {
            headers: { apikey: printed.service_role_key, Authorization: `Bearer ${printed.service_role_key}` },
          }).admin;
          assert.equal((await printedAdmin.getUserById(user.id)).error, null);
        } finally {
          await server.stop();
        }
      });
    });

    describe('other signing algorithms', () => {
      /** Starts a server with these key settings and checks a fresh user's token through the JWKS. */
      async function expectJwksVerification(settings, alg) {
        const server = await startAuthd(backend, { SIGNUP__AUTOCONFIRM: 'true', ...settings });
        try {
          const { auth, user } = await signedUp(server);
          const { data, error } = await auth.getClaims();
          assert.equal(error, null);
          assert.equal(data.header.alg, alg);
          assert.equal(data.claims.sub, user.id);
          assert.ok(auth.requests.some((request) => request.url.endsWith('/.well-known/jwks.json')));
          assert.ok(!auth.requests.some((request) => request.url.endsWith('/user')), 'verified locally');
          const jwks = await call(server, 'GET', '/.well-known/jwks.json');
          for (const key of jwks.body.keys) {
            for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(key[secret], undefined);
          }
          return data;
        } finally {
          await server.stop();
        }
      }

      it('RS256 keys generated on first start verify through the JWKS', {
        skip: !backend.fresh && 'this database already holds the ES256 key of the servers above',
      }, async () => {
        await expectJwksVerification({ JWT__ALGORITHM: 'RS256' }, 'RS256');
      });

      it('a configured RS256 private key (PEM) signs, and its public half verifies through the JWKS', async () => {
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
        await expectJwksVerification({ JWT__ALGORITHM: 'RS256', JWT__PRIVATE_KEY: pem }, 'RS256');
      });

      it('a configured ES256 private key (JWK) signs, and its public half verifies through the JWKS', async () => {
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', kid: 'operator-key-1' };
        const { header } = await expectJwksVerification({ JWT__PRIVATE_KEY: JSON.stringify(jwk) }, 'ES256');
        assert.equal(header.kid, 'operator-key-1');
      });

      it('HS256 tokens are checked by the server (GET /user), and the JWKS publishes nothing secret', async () => {
        const server = await startAuthd(backend, {
          SIGNUP__AUTOCONFIRM: 'true',
          JWT__ALGORITHM: 'HS256',
          JWT__SECRET: 'a shared secret of at least thirty-two bytes',
        });
        try {
          const { auth, user } = await signedUp(server);
          const { data, error } = await auth.getClaims();
          assert.equal(error, null);
          assert.equal(data.header.alg, 'HS256');
          assert.equal(data.claims.sub, user.id);
          assert.ok(auth.requests.some((request) => request.method === 'GET' && request.url.endsWith('/user')));
          const jwks = await call(server, 'GET', '/.well-known/jwks.json');
          assert.equal(jwks.status, 200);
          assert.ok(jwks.body.keys.every((key) => key.kty !== 'oct' && key.k === undefined && key.d === undefined));
        } finally {
          await server.stop();
        }
      });
    });
  });
}
