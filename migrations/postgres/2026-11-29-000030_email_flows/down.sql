DROP TABLE auth.mail_outbox;
DROP TABLE auth.one_time_tokens;
