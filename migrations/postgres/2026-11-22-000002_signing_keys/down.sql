DROP TABLE auth.signing_keys;
