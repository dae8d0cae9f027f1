DROP TABLE mail_outbox;
DROP TABLE one_time_tokens;
