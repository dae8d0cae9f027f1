-- Gives pgbench clients 0..:clients-1 of chain :chain a session each, owned by the benchmark's
-- users in turn, with the first refresh token of its chain. A digest is the text of
-- 10^18 + chain * 10^15 + client * 10^9 + step, which refresh_minimal.sql computes the same way.
INSERT INTO auth.sessions (id, user_id, created_at, aal, auth_method, ip)
SELECT md5('authd-bench-' || :chain || '-' || c)::uuid, u.id, now(), 'aal1', 'password', '127.0.0.1'
FROM generate_series(0, :clients - 1) AS c
CROSS JOIN LATERAL (
    SELECT id FROM auth.users ORDER BY created_at, id
    OFFSET c % (SELECT count(*) FROM auth.users) LIMIT 1
) AS u;
INSERT INTO auth.refresh_tokens (session_id, token_digest, created_at)
SELECT md5('authd-bench-' || :chain || '-' || c)::uuid,
       convert_to((1000000000000000000 + :chain * 1000000000000000 + c * 1000000000::bigint)::text, 'UTF8'),
       now()
FROM generate_series(0, :clients - 1) AS c;
