-- Every change to the signing keys, by authd or by hand, notifies channel `authd_keys` when its
-- transaction commits; running replicas listen and reload their keys at once (their periodic
-- reload stays as the fallback).
CREATE FUNCTION auth.notify_key_change() RETURNS TRIGGER
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('authd_keys', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER signing_keys_notify
AFTER INSERT OR UPDATE OR DELETE ON auth.signing_keys
FOR EACH STATEMENT EXECUTE FUNCTION auth.notify_key_change();
