DROP TRIGGER signing_keys_notify ON auth.signing_keys;
DROP FUNCTION auth.notify_key_change();
