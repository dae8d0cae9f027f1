DROP TABLE mfa_recovery_codes;
