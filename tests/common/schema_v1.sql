-- The fleet store's schema, version 1. Run by `backup-codes db init` as the
-- database owner, inside one transaction, after the version check: every
-- statement is idempotent. Functions are SECURITY DEFINER with a fixed
-- search_path and name every object with its schema; the login role may
-- execute backup_codes.login_info and backup_codes.judge and nothing else.

CREATE TABLE IF NOT EXISTS backup_codes.sets (
    user_name            text PRIMARY KEY CHECK (octet_length(user_name) BETWEEN 1 AND 250),
    created              timestamptz NOT NULL,
    revoked              timestamptz,
    alphabet             text NOT NULL CHECK (alphabet IN ('crockford', 'digits')),
    length               integer NOT NULL CHECK (length BETWEEN 8 AND 32),
    m_cost               integer NOT NULL,
    t_cost               integer NOT NULL,
    p_cost               integer NOT NULL,
    salt                 bytea NOT NULL CHECK (octet_length(salt) = 16),
    -- The tally (see the README, "Lockout"): the most recent failure times
    -- of each scope, oldest first, and remote failures since the last success.
    local_failures       timestamptz[] NOT NULL DEFAULT '{}',
    remote_failures      timestamptz[] NOT NULL DEFAULT '{}',
    remote_in_a_row      integer NOT NULL DEFAULT 0,
    last_failure_at      timestamptz,
    last_failure_service text,
    last_failure_rhost   text,
    last_failure_host    text
);

CREATE TABLE IF NOT EXISTS backup_codes.codes (
    user_name    text NOT NULL REFERENCES backup_codes.sets ON DELETE CASCADE,
    seq          integer NOT NULL CHECK (seq >= 0),
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
    used_at      timestamptz,
    used_service text,
    used_rhost   text,
    used_host    text,
    -- A temporary code (`backup-codes add --expires`) stops working then.
    expires      timestamptz,
    PRIMARY KEY (user_name, seq)
);
-- For databases made before temporary codes existed.
ALTER TABLE backup_codes.codes ADD COLUMN IF NOT EXISTS expires timestamptz;

-- When the set's regular codes stop working under `max_age` (days, 0: never).
-- Whole days of 86400 s, as the module counts them, whatever the time zone.
CREATE OR REPLACE FUNCTION backup_codes.set_end(created timestamptz, max_age integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN max_age > 0
        THEN created + make_interval(secs => max_age::double precision * 86400) END
$$;

-- The lock that failure times impose, whether or not it has run out:
-- `deny` of them within `fail_interval` of the newest, until the newest plus
-- `unlock_time` ('infinity': until an administrator unlocks).
CREATE OR REPLACE FUNCTION backup_codes.lock_of(
    times timestamptz[], deny integer, fail_interval integer, unlock_time integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN deny <= 0 OR coalesce(cardinality(times), 0) < deny THEN NULL
        WHEN times[cardinality(times)] - times[cardinality(times) - deny + 1]
             > make_interval(secs => fail_interval) THEN NULL
        WHEN unlock_time = 0 THEN 'infinity'::timestamptz
        ELSE times[cardinality(times)] + make_interval(secs => unlock_time)
    END
$$;

-- The lock still in force at `now_at`.
CREATE OR REPLACE FUNCTION backup_codes.scope_lock(
    times timestamptz[], deny integer, fail_interval integer, unlock_time integer,
    now_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN l > now_at THEN l END
    FROM (SELECT backup_codes.lock_of(times, deny, fail_interval, unlock_time) AS l) x
$$;

-- Until when a login is refused: a local lock refuses every login; a remote
-- lock (or 100 remote failures in a row) only logins with a remote host.
CREATE OR REPLACE FUNCTION backup_codes.login_lock(
    s backup_codes.sets, deny integer, fail_interval integer, unlock_time integer,
    remote boolean, now_at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN remote THEN greatest(
                   backup_codes.scope_lock(s.local_failures, deny, fail_interval, unlock_time, now_at),
                   backup_codes.scope_lock(s.remote_failures, deny, fail_interval, unlock_time, now_at),
                   CASE WHEN deny > 0 AND s.remote_in_a_row >= 100 THEN 'infinity'::timestamptz END)
           ELSE backup_codes.scope_lock(s.local_failures, deny, fail_interval, unlock_time, now_at)
           END
$$;

-- For a login, before the prompt: how to hash, and whether it is locked.
-- Never a hash.
CREATE OR REPLACE FUNCTION backup_codes.login_info(
    p_user text, p_deny integer, p_fail_interval integer, p_unlock_time integer,
    p_remote boolean)
RETURNS TABLE (alphabet text, length integer, m_cost integer, t_cost integer,
               p_cost integer, salt bytea, locked boolean, locked_until timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    s backup_codes.sets;
    l timestamptz;
BEGIN
    SELECT * INTO s FROM backup_codes.sets WHERE user_name = p_user;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    l := backup_codes.login_lock(s, p_deny, p_fail_interval, p_unlock_time, p_remote,
                                 clock_timestamp());
    RETURN QUERY SELECT s.alphabet, s.length, s.m_cost, s.t_cost, s.p_cost, s.salt,
        l IS NOT NULL, CASE WHEN l <> 'infinity' THEN l END;
END
$$;

-- One attempt, under a row lock on the user's set: the lock state, then the
-- digest against every stored hash; the code is marked used (and the tally
-- reset) or the failure counted. The caller commits before it reports.
-- verdict: accepted | wrong | reused | revoked | revoked-match | locked |
-- expired (an unused code past its `expires` or the set's `max_age`:
-- refused, nothing counted) | absent (no set: nothing counted) | rehash (a
-- new set since the salt was fetched: nothing counted, hash again with the
-- returned parameters). `remaining` counts the codes that still work;
-- `expired_at` is when an expired code stopped, `ageing_until` when the
-- set's codes stop if the set is in the last tenth of its `max_age`.
-- (The signature before temporary codes existed is dropped: a changed
-- argument list would otherwise stay beside it as a second function.)
DROP FUNCTION IF EXISTS backup_codes.judge(text, bytea, bytea, integer, integer, integer,
                                           text, text, text);
DROP FUNCTION IF EXISTS backup_codes.judge(text, bytea, bytea, integer, integer, integer,
                                           integer, text, text, text);
CREATE FUNCTION backup_codes.judge(
    p_user text, p_salt bytea, p_digest bytea,
    p_deny integer, p_fail_interval integer, p_unlock_time integer, p_max_age integer,
    p_service text, p_rhost text, p_host text)
RETURNS TABLE (verdict text, remaining integer, locked boolean, locked_until timestamptz,
               used_at timestamptz, used_service text, used_rhost text, used_host text,
               alphabet text, length integer, m_cost integer, t_cost integer,
               p_cost integer, salt bytea, expired_at timestamptz, ageing_until timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    s backup_codes.sets;
    c backup_codes.codes;
    matched boolean;
    now_at timestamptz;
    remote boolean := coalesce(p_rhost, '') <> '';
    keep integer := greatest(least(p_deny, 1000), 0);
    l timestamptz;
    times timestamptz[];
    v text;
    set_end timestamptz;
    expiry timestamptz;
BEGIN
    SELECT * INTO s FROM backup_codes.sets WHERE user_name = p_user FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'absent', 0, false, NULL::timestamptz, NULL::timestamptz,
            NULL::text, NULL::text, NULL::text, NULL::text, NULL::integer, NULL::integer,
            NULL::integer, NULL::integer, NULL::bytea, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    IF s.salt <> p_salt THEN
        RETURN QUERY SELECT 'rehash', 0, false, NULL::timestamptz, NULL::timestamptz,
            NULL::text, NULL::text, NULL::text, s.alphabet, s.length, s.m_cost, s.t_cost,
            s.p_cost, s.salt, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    -- Taken under the lock, so that the failures of concurrent attempts are
    -- recorded in the order they were judged.
    now_at := clock_timestamp();
    l := backup_codes.login_lock(s, p_deny, p_fail_interval, p_unlock_time, remote, now_at);
    IF l IS NOT NULL THEN
        RETURN QUERY SELECT 'locked', 0, true, CASE WHEN l <> 'infinity' THEN l END,
            NULL::timestamptz, NULL::text, NULL::text, NULL::text, NULL::text,
            NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::bytea,
            NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT * INTO c FROM backup_codes.codes
        WHERE user_name = p_user AND hash = p_digest;
    matched := FOUND;
    set_end := backup_codes.set_end(s.created, p_max_age);
    IF matched AND c.used_at IS NULL AND s.revoked IS NULL THEN
        -- Expired: refused, and not a guess (whoever typed it held it).
        expiry := coalesce(c.expires, set_end);
        IF expiry IS NOT NULL AND now_at >= expiry THEN
            RETURN QUERY SELECT 'expired', 0, false, NULL::timestamptz,
                NULL::timestamptz, NULL::text, NULL::text, NULL::text, NULL::text,
                NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::bytea,
                expiry, NULL::timestamptz;
            RETURN;
        END IF;
        UPDATE backup_codes.codes
            SET used_at = now_at, used_service = p_service, used_rhost = NULLIF(p_rhost, ''),
                used_host = p_host
            WHERE user_name = p_user AND seq = c.seq;
        UPDATE backup_codes.sets
            SET local_failures = '{}', remote_failures = '{}', remote_in_a_row = 0
            WHERE user_name = p_user;
        RETURN QUERY SELECT 'accepted', count(*)::integer, false, NULL::timestamptz,
            NULL::timestamptz, NULL::text, NULL::text, NULL::text, NULL::text,
            NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::bytea,
            NULL::timestamptz,
            CASE WHEN set_end IS NOT NULL AND now_at < set_end
                      AND now_at >= set_end - make_interval(secs => p_max_age::double precision * 8640)
                 THEN set_end END
            FROM backup_codes.codes AS k
            WHERE k.user_name = p_user AND k.used_at IS NULL
              AND coalesce(k.expires, set_end, 'infinity') > now_at;
        RETURN;
    END IF;
    -- A failure, counted in its scope. No lock is in force here (login_lock
    -- above was NULL), so a lock its failures imposed has run out, and
    -- forgives them (as in pam_faillock).
    times := CASE WHEN remote THEN s.remote_failures ELSE s.local_failures END;
    IF backup_codes.lock_of(times, p_deny, p_fail_interval, p_unlock_time) IS NOT NULL THEN
        times := '{}';
    END IF;
    -- Oldest first, also if the clock went back; the newest `deny` kept.
    times := ARRAY(SELECT t FROM (SELECT t FROM unnest(array_append(times, now_at)) AS u(t)
                                  ORDER BY t DESC LIMIT keep) AS k ORDER BY t);
    IF remote THEN
        UPDATE backup_codes.sets
            SET remote_failures = times,
                remote_in_a_row = least(remote_in_a_row::bigint + 1, 2147483647)::integer
            WHERE user_name = p_user
            RETURNING * INTO s;
        l := greatest(
            backup_codes.scope_lock(times, p_deny, p_fail_interval, p_unlock_time, now_at),
            CASE WHEN p_deny > 0 AND s.remote_in_a_row >= 100 THEN 'infinity'::timestamptz END);
    ELSE
        UPDATE backup_codes.sets SET local_failures = times
            WHERE user_name = p_user;
        l := backup_codes.scope_lock(times, p_deny, p_fail_interval, p_unlock_time, now_at);
    END IF;
    UPDATE backup_codes.sets
        SET last_failure_at = now_at, last_failure_service = p_service,
            last_failure_rhost = NULLIF(p_rhost, ''), last_failure_host = p_host
        WHERE user_name = p_user;
    v := CASE
        WHEN s.revoked IS NOT NULL AND matched THEN 'revoked-match'
        WHEN s.revoked IS NOT NULL THEN 'revoked'
        WHEN matched THEN 'reused'
        ELSE 'wrong'
    END;
    RETURN QUERY SELECT v, 0, l IS NOT NULL, NULL::timestamptz,
        c.used_at, c.used_service, c.used_rhost, c.used_host, NULL::text,
        NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::bytea,
        NULL::timestamptz, NULL::timestamptz;
END
$$;
