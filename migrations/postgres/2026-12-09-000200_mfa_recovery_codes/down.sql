DROP TABLE auth.mfa_recovery_codes;
