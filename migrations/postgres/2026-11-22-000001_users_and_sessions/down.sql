DROP TABLE auth.refresh_tokens;
DROP TABLE auth.sessions;
DROP TABLE auth.users;
