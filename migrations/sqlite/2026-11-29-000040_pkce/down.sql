DROP TABLE auth_codes;
ALTER TABLE one_time_tokens DROP COLUMN code_challenge;
ALTER TABLE one_time_tokens DROP COLUMN code_challenge_method;
