DROP TABLE auth.auth_codes;
ALTER TABLE auth.one_time_tokens
    DROP COLUMN code_challenge,
    DROP COLUMN code_challenge_method;
