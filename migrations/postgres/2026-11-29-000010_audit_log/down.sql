DROP TABLE auth.audit_log;
