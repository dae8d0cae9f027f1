-- Rate-limit counters shared by every replica on this database: one row per key, its GCRA
-- theoretical arrival time. UNLOGGED: counters need no crash safety or replication (a crash
-- empties the table, which only gives every key a fresh burst), and skipping the WAL keeps a
-- check to one cheap row write.
CREATE UNLOGGED TABLE auth.rate_limits (
    key TEXT PRIMARY KEY,
    tat TIMESTAMPTZ NOT NULL
);

-- Pruning finds the keys whose counts have refilled without a scan.
CREATE INDEX rate_limits_tat_idx ON auth.rate_limits (tat);

-- One GCRA step on `p_key` at `p_now`: a hit costs `p_interval_us` (window / limit) and the key
-- may run at most `p_window_us` ahead of now. Answers NULL when the hit is admitted (and, when
-- `p_count`, counted), or the microseconds until it would be. The insert's conflict arm locks the
-- key's row, so concurrent hits on one key from any replica are counted one after another; a
-- refused hit changes nothing.
CREATE FUNCTION auth.rate_limit_hit(p_key TEXT, p_now TIMESTAMPTZ, p_interval_us BIGINT, p_window_us BIGINT, p_count BOOLEAN)
RETURNS BIGINT
LANGUAGE plpgsql
AS $$
DECLARE
    step   INTERVAL := p_interval_us * INTERVAL '1 microsecond';
    win    INTERVAL := p_window_us * INTERVAL '1 microsecond';
    stored TIMESTAMPTZ;
    ahead  INTERVAL;
BEGIN
    IF p_count THEN
        INSERT INTO auth.rate_limits AS r (key, tat) VALUES (p_key, p_now + step)
        ON CONFLICT (key) DO UPDATE SET tat = GREATEST(r.tat, p_now) + step
            WHERE GREATEST(r.tat, p_now) + step - p_now <= win
        RETURNING r.tat INTO stored;
        IF FOUND THEN
            RETURN NULL;
        END IF;
        -- Refused: the row is locked by the conflict arm; read how far ahead it runs.
        SELECT r.tat INTO stored FROM auth.rate_limits r WHERE r.key = p_key;
    ELSE
        SELECT r.tat INTO stored FROM auth.rate_limits r WHERE r.key = p_key;
    END IF;
    ahead := GREATEST(COALESCE(stored, p_now), p_now) + step - p_now;
    IF ahead <= win THEN
        RETURN NULL;
    END IF;
    RETURN GREATEST(1, (EXTRACT(EPOCH FROM (ahead - win)) * 1000000)::BIGINT);
END;
$$;
