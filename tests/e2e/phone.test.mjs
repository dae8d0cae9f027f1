// Phone accounts through the real @supabase/auth-js client, on SQLite and on PostgreSQL: signUp
// and signInWithPassword with a phone, signInWithOtp by SMS, verifyOtp with type sms, and
// updateUser with a new phone. Codes are read from a fake of Twilio's Messages API on loopback,
// which authd's outbox delivers to (sms.api_base).

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { backends, client, startAuthd } from './harness.mjs';

const PASSWORD = 'correct horse battery';

/** A fake of Twilio's Messages API: keeps each message's form, answers Twilio's success. */
async function fakeTwilio() {
  const messages = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      messages.push({ path: request.url, authorization: request.headers.authorization, form: new URLSearchParams(body) });
      response.writeHead(201, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ sid: `SM${messages.length}`, status: 'queued' }));
    });
  });
  await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    messages,
    /** The next code sent to `number` after `seen` earlier ones, waiting for the outbox. */
    async code(number, seen = 0) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const sent = messages.filter((m) => m.form.get('To') === `+${number}`);
        if (sent.length > seen) return sent[seen].form.get('Body').replace(/\D/g, '');
        assert.ok(Date.now() < deadline, `no code number ${seen + 1} to ${number}`);
        await new Promise((wake) => setTimeout(wake, 100));
      }
    },
    close: () => new Promise((closed) => server.close(closed)),
  };
}

/** A fresh number, so runs on a shared database never meet. */
function freshNumber() {
  return `1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
}

for (const backend of backends()) {
  describe(`phone accounts on ${backend.name}`, { skip: backend.skip }, () => {
    let server;
    let twilio;

    before(async () => {
      twilio = await fakeTwilio();
      server = await startAuthd(backend, {
        SMS__ENABLED: 'true',
        SMS__PROVIDER: 'twilio',
        SMS__API_BASE: twilio.base,
        SMS__TWILIO_ACCOUNT_SID: 'AC1',
        SMS__TWILIO_AUTH_TOKEN: 'secret-token',
        SMS__TWILIO_MESSAGE_SERVICE_SID: '"+15550009999"',
        SMS__SEND_INTERVAL_SECS: '0',
        RATE_LIMITS__SIGNUP_PER_MINUTE: '0',
        RATE_LIMITS__EMAIL_PER_MINUTE: '0',
        RATE_LIMITS__PASSWORD_PER_MINUTE: '0',
        RATE_LIMITS__VERIFY_PER_MINUTE: '0',
      });
    });

    after(async () => {
      await server?.stop();
      await twilio?.close();
    });

    it('signUp with a phone, verifyOtp sms, signInWithPassword with the phone', async () => {
      const auth = client(server);
      const number = freshNumber();
      const signedUp = await auth.signUp({ phone: `+${number}`, password: PASSWORD });
      assert.equal(signedUp.error, null);
      assert.equal(signedUp.data.session, null);
      assert.equal(signedUp.data.user.phone, number);
      const code = await twilio.code(number);
      assert.match(code, /^\d{6}$/);

      const refused = await auth.signInWithPassword({ phone: `+${number}`, password: PASSWORD });
      assert.equal(refused.error?.code, 'phone_not_confirmed');

      const verified = await auth.verifyOtp({ phone: `+${number}`, token: code, type: 'sms' });
      assert.equal(verified.error, null);
      assert.ok(verified.data.session.access_token);
      assert.ok(verified.data.user.phone_confirmed_at);
      const again = await auth.verifyOtp({ phone: `+${number}`, token: code, type: 'sms' });
      assert.equal(again.error?.code, 'otp_expired');

      const signedIn = await auth.signInWithPassword({ phone: `+${number}`, password: PASSWORD });
      assert.equal(signedIn.error, null);
      assert.equal(signedIn.data.user.phone, number);
    });

    it('signInWithOtp by SMS signs a new number up and in; updateUser changes the phone after verifyOtp phone_change', async () => {
      const auth = client(server);
      const number = freshNumber();
      const sent = await auth.signInWithOtp({ phone: `+${number}` });
      assert.equal(sent.error, null);
      const code = await twilio.code(number);
      const verified = await auth.verifyOtp({ phone: number, token: code, type: 'sms' });
      assert.equal(verified.error, null);
      assert.equal(verified.data.user.phone, number);

      const newNumber = freshNumber();
      const updated = await auth.updateUser({ phone: `+${newNumber}` });
      assert.equal(updated.error, null);
      assert.equal(updated.data.user.new_phone, newNumber);
      const changeCode = await twilio.code(newNumber);
      const changed = await auth.verifyOtp({ phone: `+${newNumber}`, token: changeCode, type: 'phone_change' });
      assert.equal(changed.error, null);
      assert.equal(changed.data.user.phone, newNumber);
      const { data } = await auth.getUser();
      assert.equal(data.user.phone, newNumber);
    });
  });
}
