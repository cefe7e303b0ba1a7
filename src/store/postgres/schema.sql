-- The fleet store's schema, version 4. Run by `backup-codes db init` as the
-- database owner, inside one transaction, after the version check: every
-- statement is idempotent, and a version 1, 2 or 3 database is upgraded by it.
-- Functions are SECURITY DEFINER with a fixed search_path and name every
-- object with its schema; the login role may execute the login routines
-- (backup_codes.login_info, the procedure backup_codes.judge and the
-- function it calls, backup_codes.judge_attempt, and backup_codes.fleet_policy;
-- since version 4 the procedure backup_codes.renew and its backup_codes.renew_attempt)
-- and nothing else. The lockout policy is the `policy` table's, never a
-- caller's (see docs/design.md, "Fleet threat model").

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
    -- Each code ends with a Crockford check symbol (not hashed).
    check_symbol         boolean NOT NULL DEFAULT false,
    -- The tally (see docs/admin-guide.md, "Lockout"): the most recent failure times
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
-- For databases made before check symbols existed (version 2): their sets have none.
ALTER TABLE backup_codes.sets ADD COLUMN IF NOT EXISTS check_symbol boolean NOT NULL DEFAULT false;

-- The fleet's policy, one row, set by the owner (`backup-codes db policy`):
-- the defaults are the file store's. A host cannot choose its own.
CREATE TABLE IF NOT EXISTS backup_codes.policy (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    deny          integer NOT NULL DEFAULT 5 CHECK (deny BETWEEN 0 AND 1000),
    fail_interval integer NOT NULL DEFAULT 900 CHECK (fail_interval >= 1),
    unlock_time   integer NOT NULL DEFAULT 900 CHECK (unlock_time >= 0),
    max_age       integer NOT NULL DEFAULT 0 CHECK (max_age BETWEEN 0 AND 36500)
);
INSERT INTO backup_codes.policy DEFAULT VALUES ON CONFLICT DO NOTHING;

-- A recorded service, remote host or host name as it may be stored: the
-- characters that could forge a log line or reorder a terminal's text
-- (controls, line separators, bidirectional marks, as the module's
-- escape_deceptive knows them) replaced by '?', and at most 255 bytes (the
-- store file's limit, codeset::MAX_FIELD_LEN), cut at a character.
CREATE OR REPLACE FUNCTION backup_codes.clip(t text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text := left(regexp_replace(t,
        '[\x01-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]',
        '?', 'g'), 255);
BEGIN
    WHILE octet_length(r) > 255 LOOP
        r := left(r, -1);
    END LOOP;
    RETURN r;
END
$$;

-- Fields written before version 2 clipped them are clipped once, then kept
-- so by a CHECK (a NULL passes: clip(NULL) = NULL is not false): for each
-- table, its recorded fields, one loop for both.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
            ('sets', ARRAY['last_failure_service', 'last_failure_rhost', 'last_failure_host']),
            ('codes', ARRAY['used_service', 'used_rhost', 'used_host'])) AS f(tab, cols)
    LOOP
        EXECUTE format('UPDATE backup_codes.%I SET %s WHERE %s', t.tab,
            (SELECT string_agg(format('%1$I = backup_codes.clip(%1$I)', c), ', ')
                FROM unnest(t.cols) AS c),
            (SELECT string_agg(format('%1$I IS DISTINCT FROM backup_codes.clip(%1$I)', c), ' OR ')
                FROM unnest(t.cols) AS c));
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                       WHERE conname = t.tab || '_fields_clipped'
                         AND conrelid = format('backup_codes.%I', t.tab)::regclass) THEN
            EXECUTE format('ALTER TABLE backup_codes.%I ADD CONSTRAINT %I CHECK (%s)',
                t.tab, t.tab || '_fields_clipped',
                (SELECT string_agg(format('backup_codes.clip(%1$I) = %1$I', c), ' AND ')
                    FROM unnest(t.cols) AS c));
        END IF;
    END LOOP;
END
$$;

-- Version 1's login routines took the policy from the caller: dropped, so
-- that no host can call them any more.
DROP FUNCTION IF EXISTS backup_codes.login_info(text, integer, integer, integer, boolean);
DROP FUNCTION IF EXISTS backup_codes.judge(text, bytea, bytea, integer, integer, integer,
                                           text, text, text);
DROP FUNCTION IF EXISTS backup_codes.judge(text, bytea, bytea, integer, integer, integer,
                                           integer, text, text, text);

-- Version 2's login routines answered without the check symbol and the
-- previous use: their result types change, which CREATE OR REPLACE cannot do.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
               JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'backup_codes'
                 AND p.proname IN ('login_info', 'judge_attempt', 'judge')
                 AND NOT ('check_symbol' = ANY (coalesce(p.proargnames, '{}')))) THEN
        DROP PROCEDURE IF EXISTS backup_codes.judge;
        DROP FUNCTION IF EXISTS backup_codes.judge_attempt(text, bytea, bytea, text, text, text);
        DROP FUNCTION IF EXISTS backup_codes.login_info(text, boolean);
    END IF;
END
$$;

-- Version 3's judge_attempt (and the procedure judge, which returns its
-- columns) did not say which code a verdict was about (code_seq): their
-- result types change, which CREATE OR REPLACE cannot do.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
               JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'backup_codes'
                 AND p.proname IN ('judge_attempt', 'judge')
                 AND NOT ('code_seq' = ANY (coalesce(p.proargnames, '{}')))) THEN
        DROP PROCEDURE IF EXISTS backup_codes.judge;
        DROP FUNCTION IF EXISTS backup_codes.judge_attempt(text, bytea, bytea, text, text, text);
    END IF;
END
$$;

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

-- The fleet's policy (the owner's row; an error if it was deleted, so that
-- no login runs without one).
CREATE OR REPLACE FUNCTION backup_codes.fleet_policy()
RETURNS TABLE (deny integer, fail_interval integer, unlock_time integer, max_age integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT p.deny, p.fail_interval, p.unlock_time, p.max_age
        FROM backup_codes.policy AS p;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'backup_codes.policy has no row: run backup-codes db init';
    END IF;
END
$$;

-- For a login, before the prompt: how to hash, and whether it is locked
-- under the fleet's policy. Never a hash.
CREATE OR REPLACE FUNCTION backup_codes.login_info(p_user text, p_remote boolean)
RETURNS TABLE (alphabet text, length integer, m_cost integer, t_cost integer,
               p_cost integer, salt bytea, locked boolean, locked_until timestamptz,
               check_symbol boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    s backup_codes.sets;
    pol record;
    l timestamptz;
BEGIN
    SELECT * INTO STRICT pol FROM backup_codes.fleet_policy();
    SELECT * INTO s FROM backup_codes.sets WHERE user_name = p_user;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    l := backup_codes.login_lock(s, pol.deny, pol.fail_interval, pol.unlock_time, p_remote,
                                 clock_timestamp());
    RETURN QUERY SELECT s.alphabet, s.length, s.m_cost, s.t_cost, s.p_cost, s.salt,
        l IS NOT NULL, CASE WHEN l <> 'infinity' THEN l END, s.check_symbol;
END
$$;

-- One attempt, under a row lock on the user's set: the lock state, then the
-- digest against every stored hash; the code is marked used (and the tally
-- reset) or the failure counted, by the fleet's policy. Only the procedure
-- backup_codes.judge below calls it, and commits at once: it refuses to run
-- unless the statement the client sent is a CALL of that procedure with
-- nothing but parameters, so that no client can hold the row lock it takes
-- (see the procedure).
-- verdict: accepted | wrong | reused | revoked | revoked-match | locked |
-- expired (an unused code past its `expires` or the set's `max_age`:
-- refused, nothing counted) | absent (no set: nothing counted) | rehash (a
-- new set since the salt was fetched: nothing counted, hash again with the
-- returned parameters). `remaining` counts the codes that still work;
-- `expired_at` is when an expired code stopped, `ageing_until` when the
-- set's codes stop if the set is in the last tenth of its `max_age`.
-- `check_symbol` goes with the hashing parameters (rehash). For `accepted`,
-- used_* are the previous use of a code of the set (NULL for its first) and
-- `failures` the failures on record before this success reset them (as
-- `status` counts them), told to the user. `code_seq` is the seq of the code
-- the verdict is about (accepted, expired, reused, revoked-match; NULL for the
-- others): the code's number on the user's sheet is code_seq + 1.
CREATE OR REPLACE FUNCTION backup_codes.judge_attempt(
    p_user text, p_salt bytea, p_digest bytea, p_service text, p_rhost text, p_host text)
RETURNS TABLE (verdict text, remaining integer, locked boolean, locked_until timestamptz,
               used_at timestamptz, used_service text, used_rhost text, used_host text,
               alphabet text, length integer, m_cost integer, t_cost integer,
               p_cost integer, salt bytea, expired_at timestamptz, ageing_until timestamptz,
               check_symbol boolean, failures integer, code_seq integer)
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
    pol record;
    p_deny integer;
    p_fail_interval integer;
    p_unlock_time integer;
    p_max_age integer;
    keep integer;
    -- What a client says about itself, clipped: a field must not make the
    -- set unreadable for the admin's commands.
    v_service text := coalesce(backup_codes.clip(p_service), '');
    v_rhost text := NULLIF(backup_codes.clip(p_rhost), '');
    v_host text := backup_codes.clip(p_host);
    l timestamptz;
    times timestamptz[];
    v text;
    set_end timestamptz;
    expiry timestamptz;
    prev backup_codes.codes;
BEGIN
    -- Also when the procedure is called as the client sent it: no SQL of
    -- the client's may run after this function in the same transaction
    -- (backup_codes.renew judges through this function too).
    PERFORM backup_codes.only_within_call('backup_codes.judge_attempt', 'judge|renew');
    SELECT * INTO STRICT pol FROM backup_codes.fleet_policy();
    p_deny := pol.deny;
    p_fail_interval := pol.fail_interval;
    p_unlock_time := pol.unlock_time;
    p_max_age := pol.max_age;
    -- The newest `deny` failures are kept, as the file store keeps them.
    keep := greatest(least(p_deny, 1000), 0);
    SELECT * INTO s FROM backup_codes.sets WHERE user_name = p_user FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'absent', 0, false, NULL::timestamptz, NULL::timestamptz,
            NULL::text, NULL::text, NULL::text, NULL::text, NULL::integer, NULL::integer,
            NULL::integer, NULL::integer, NULL::bytea, NULL::timestamptz, NULL::timestamptz,
            NULL::boolean, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    IF s.salt <> p_salt THEN
        RETURN QUERY SELECT 'rehash', 0, false, NULL::timestamptz, NULL::timestamptz,
            NULL::text, NULL::text, NULL::text, s.alphabet, s.length, s.m_cost, s.t_cost,
            s.p_cost, s.salt, NULL::timestamptz, NULL::timestamptz, s.check_symbol,
            NULL::integer, NULL::integer;
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
            NULL::timestamptz, NULL::timestamptz, NULL::boolean, NULL::integer,
            NULL::integer;
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
                expiry, NULL::timestamptz, NULL::boolean, NULL::integer, c.seq;
            RETURN;
        END IF;
        -- The previous use, read before this one is recorded.
        SELECT * INTO prev FROM backup_codes.codes
            WHERE user_name = p_user AND used_at IS NOT NULL
            ORDER BY used_at DESC LIMIT 1;
        UPDATE backup_codes.codes
            SET used_at = now_at, used_service = v_service, used_rhost = v_rhost,
                used_host = v_host
            WHERE user_name = p_user AND seq = c.seq;
        UPDATE backup_codes.sets
            SET local_failures = '{}', remote_failures = '{}', remote_in_a_row = 0
            WHERE user_name = p_user;
        RETURN QUERY SELECT 'accepted', count(*)::integer, false, NULL::timestamptz,
            prev.used_at, prev.used_service, prev.used_rhost, prev.used_host, NULL::text,
            NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::bytea,
            NULL::timestamptz,
            CASE WHEN set_end IS NOT NULL AND now_at < set_end
                      AND now_at >= set_end - make_interval(secs => p_max_age::double precision * 8640)
                 THEN set_end END,
            NULL::boolean,
            (cardinality(s.local_failures)
             + greatest(cardinality(s.remote_failures), s.remote_in_a_row))::integer,
            c.seq
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
        SET last_failure_at = now_at, last_failure_service = v_service,
            last_failure_rhost = v_rhost, last_failure_host = v_host
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
        NULL::timestamptz, NULL::timestamptz, NULL::boolean, NULL::integer,
        CASE WHEN matched THEN c.seq END;
END
$$;

-- The judgement as a login makes it: a procedure that calls judge_attempt
-- and COMMITs, so that the row lock ends with the CALL. Called at the top
-- level (what the module sends, by the extended protocol), it commits; called
-- inside a transaction block (an explicit BEGIN, or several statements in one
-- simple query), PostgreSQL makes it atomic and its COMMIT raises "invalid
-- transaction termination", which aborts the transaction and releases the
-- lock at once. SECURITY INVOKER and no SET clause, which a procedure that
-- commits cannot have; every name is schema-qualified, so that the caller's
-- search_path changes nothing. The login role's timeouts are its own to lift
-- (SET): they are no defence, this is.
CREATE OR REPLACE PROCEDURE backup_codes.judge(
    p_user text, p_salt bytea, p_digest bytea, p_service text, p_rhost text, p_host text,
    OUT verdict text, OUT remaining integer, OUT locked boolean, OUT locked_until timestamptz,
    OUT used_at timestamptz, OUT used_service text, OUT used_rhost text, OUT used_host text,
    OUT alphabet text, OUT length integer, OUT m_cost integer, OUT t_cost integer,
    OUT p_cost integer, OUT salt bytea, OUT expired_at timestamptz,
    OUT ageing_until timestamptz, OUT check_symbol boolean, OUT failures integer,
    OUT code_seq integer)
LANGUAGE plpgsql SECURITY INVOKER
AS $$
BEGIN
    SELECT j.verdict, j.remaining, j.locked, j.locked_until, j.used_at, j.used_service,
           j.used_rhost, j.used_host, j.alphabet, j.length, j.m_cost, j.t_cost, j.p_cost,
           j.salt, j.expired_at, j.ageing_until, j.check_symbol, j.failures, j.code_seq
        INTO verdict, remaining, locked, locked_until, used_at, used_service, used_rhost,
             used_host, alphabet, length, m_cost, t_cost, p_cost, salt, expired_at,
             ageing_until, check_symbol, failures, code_seq
        FROM backup_codes.judge_attempt(p_user, p_salt, p_digest, p_service, p_rhost, p_host)
             AS j;
    COMMIT;
END
$$;

-- ---------------------------------------------------------------------------
-- Version 4: renewal through the login role (`backup-codes renew` on a fleet
-- host). Kept in this block of its own: see docs/design.md, "renew".
-- ---------------------------------------------------------------------------

-- The guard of every routine that takes a set's row lock for the login role:
-- it runs only while the statement the client sent is a CALL of one of
-- `procedures` (an alternation, e.g. 'judge|renew') with nothing but
-- parameters, a procedure that COMMITs before it answers, so that no SQL of
-- the client's can run after it in the same transaction (hold the lock, or
-- roll back a spent code). Called by the SECURITY DEFINER routines only.
CREATE OR REPLACE FUNCTION backup_codes.only_within_call(routine text, procedures text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_query() !~
        ('^CALL backup_codes\.(' || procedures || ')\((\$[0-9]+|NULL)(, *(\$[0-9]+|NULL))*\)$') THEN
        RAISE EXCEPTION '% runs only within CALL backup_codes.%($1, ...)', routine,
            replace(procedures, '|', '/')
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

-- A renewal: the user's set replaced by a new one only together with
-- spending one of its current codes, in one transaction under the set's row
-- lock. The code is judged by judge_attempt, exactly as a login's (p_salt and
-- p_digest as there; the failure counted, the use recorded with p_service,
-- p_rhost and p_host). Only a set that exists, is not revoked and is locked
-- in neither scope is judged; a set is never created, and nothing else about
-- any set can be changed. The new set (format, Argon2 parameters, salt,
-- check symbol, hashes) is checked first, as a store file's would be, and a
-- bad one refused before anything is judged; it is created at the
-- database's clock, with an empty tally. Only the procedure
-- backup_codes.renew below calls it (the guard above).
-- verdict: renewed | absent | revoked | locked (nothing judged, nothing
-- counted) | rehash (hash again with the returned parameters) | what
-- judge_attempt answers otherwise (wrong, reused, expired: the set unchanged
-- but for a counted failure).
CREATE OR REPLACE FUNCTION backup_codes.renew_attempt(
    p_user text, p_salt bytea, p_digest bytea, p_service text, p_rhost text, p_host text,
    p_alphabet text, p_length integer, p_m_cost integer, p_t_cost integer, p_p_cost integer,
    p_new_salt bytea, p_check_symbol boolean, p_hashes bytea[])
RETURNS TABLE (verdict text, locked boolean, locked_until timestamptz, used_at timestamptz,
               used_service text, used_rhost text, used_host text, alphabet text,
               length integer, m_cost integer, t_cost integer, p_cost integer, salt bytea,
               expired_at timestamptz, check_symbol boolean, code_seq integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    s backup_codes.sets;
    pol record;
    j record;
    l timestamptz;
    bad text;
BEGIN
    PERFORM backup_codes.only_within_call('backup_codes.renew_attempt', 'renew');
    -- The bounds of CodeSet::validate (code.rs, kdf/mod.rs): a hostile host
    -- stores no set the admin's commands or a login could not read.
    bad := CASE
        WHEN p_alphabet IS NULL OR p_alphabet NOT IN ('crockford', 'digits') THEN 'alphabet'
        WHEN p_length IS NULL OR p_length < 8
             OR p_length > CASE p_alphabet WHEN 'crockford' THEN 32 ELSE 20 END THEN 'code length'
        WHEN p_check_symbol IS NULL OR (p_check_symbol AND p_alphabet <> 'crockford')
            THEN 'check symbol'
        WHEN p_m_cost IS NULL OR p_m_cost NOT BETWEEN 8192 AND 262144 THEN 'm_cost'
        WHEN p_t_cost IS NULL OR p_t_cost NOT BETWEEN 1 AND 16 THEN 't_cost'
        WHEN p_p_cost IS NULL OR p_p_cost NOT BETWEEN 1 AND 8 THEN 'p_cost'
        WHEN p_new_salt IS NULL OR octet_length(p_new_salt) <> 16 THEN 'salt'
        WHEN p_hashes IS NULL OR array_ndims(p_hashes) IS DISTINCT FROM 1
             OR cardinality(p_hashes) NOT BETWEEN 1 AND 100 THEN 'number of codes'
        WHEN EXISTS (SELECT 1 FROM unnest(p_hashes) AS h(v)
                     WHERE v IS NULL OR octet_length(v) <> 32) THEN 'hash length'
        WHEN (SELECT count(DISTINCT v) FROM unnest(p_hashes) AS h(v)) <> cardinality(p_hashes)
            THEN 'duplicate hashes'
    END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'backup_codes.renew: the new set is refused (%)', bad
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO STRICT pol FROM backup_codes.fleet_policy();
    SELECT * INTO s FROM backup_codes.sets WHERE user_name = p_user FOR UPDATE;
    IF NOT FOUND THEN
        verdict := 'absent';
        RETURN NEXT;
        RETURN;
    END IF;
    -- The salt names the set (judge's rehash, and a lost answer's check):
    -- a new set has a new one. Refused before judging, so that no refusal
    -- tells a right code from a wrong one.
    IF p_new_salt = s.salt THEN
        RAISE EXCEPTION 'backup_codes.renew: the new set is refused (salt reused)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF s.revoked IS NOT NULL THEN
        verdict := 'revoked';
        RETURN NEXT;
        RETURN;
    END IF;
    -- Either scope: a renewal is no way around a lock.
    l := backup_codes.login_lock(s, pol.deny, pol.fail_interval, pol.unlock_time, true,
                                 clock_timestamp());
    IF l IS NOT NULL THEN
        verdict := 'locked';
        locked := true;
        locked_until := CASE WHEN l <> 'infinity' THEN l END;
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO STRICT j
        FROM backup_codes.judge_attempt(p_user, p_salt, p_digest, p_service, p_rhost, p_host);
    verdict := j.verdict;
    locked := j.locked;
    locked_until := j.locked_until;
    used_at := j.used_at;
    used_service := j.used_service;
    used_rhost := j.used_rhost;
    used_host := j.used_host;
    alphabet := j.alphabet;
    length := j.length;
    m_cost := j.m_cost;
    t_cost := j.t_cost;
    p_cost := j.p_cost;
    salt := j.salt;
    expired_at := j.expired_at;
    check_symbol := j.check_symbol;
    code_seq := j.code_seq;
    IF j.verdict = 'accepted' THEN
        -- The code is spent (in this transaction): the new set replaces the
        -- old one, whose codes and their records go with it.
        UPDATE backup_codes.sets
            SET created = clock_timestamp(), alphabet = p_alphabet, length = p_length,
                m_cost = p_m_cost, t_cost = p_t_cost, p_cost = p_p_cost, salt = p_new_salt,
                check_symbol = p_check_symbol, local_failures = '{}', remote_failures = '{}',
                remote_in_a_row = 0, last_failure_at = NULL, last_failure_service = NULL,
                last_failure_rhost = NULL, last_failure_host = NULL
            WHERE user_name = p_user;
        DELETE FROM backup_codes.codes WHERE user_name = p_user;
        INSERT INTO backup_codes.codes (user_name, seq, hash)
            SELECT p_user, (h.n - 1)::integer, h.v
            FROM unnest(p_hashes) WITH ORDINALITY AS h(v, n);
        -- The spent code's record goes with the old set: the server's log
        -- keeps the renewal, with the client's address, which (unlike the
        -- host name) the caller does not choose.
        RAISE LOG 'pam-backup-codes: the set of % was renewed through backup_codes.renew by role % from %, host %',
            quote_literal(p_user), session_user,
            coalesce(host(inet_client_addr()), 'the local socket'),
            coalesce(quote_literal(backup_codes.clip(p_host)), 'NULL');
        verdict := 'renewed';
        used_at := NULL;
        used_service := NULL;
        used_rhost := NULL;
        used_host := NULL;
    END IF;
    RETURN NEXT;
END
$$;

-- The renewal as `backup-codes renew` makes it: a procedure that calls
-- renew_attempt and COMMITs, as backup_codes.judge does (see there): a
-- caller cannot keep the row lock, nor roll back the spent code while
-- keeping the answer (inside a transaction block the COMMIT raises, and
-- everything is rolled back before any answer is sent).
CREATE OR REPLACE PROCEDURE backup_codes.renew(
    p_user text, p_salt bytea, p_digest bytea, p_service text, p_rhost text, p_host text,
    p_alphabet text, p_length integer, p_m_cost integer, p_t_cost integer, p_p_cost integer,
    p_new_salt bytea, p_check_symbol boolean, p_hashes bytea[],
    OUT verdict text, OUT locked boolean, OUT locked_until timestamptz,
    OUT used_at timestamptz, OUT used_service text, OUT used_rhost text, OUT used_host text,
    OUT alphabet text, OUT length integer, OUT m_cost integer, OUT t_cost integer,
    OUT p_cost integer, OUT salt bytea, OUT expired_at timestamptz, OUT check_symbol boolean,
    OUT code_seq integer)
LANGUAGE plpgsql SECURITY INVOKER
AS $$
BEGIN
    SELECT r.verdict, r.locked, r.locked_until, r.used_at, r.used_service, r.used_rhost,
           r.used_host, r.alphabet, r.length, r.m_cost, r.t_cost, r.p_cost, r.salt,
           r.expired_at, r.check_symbol, r.code_seq
        INTO verdict, locked, locked_until, used_at, used_service, used_rhost, used_host,
             alphabet, length, m_cost, t_cost, p_cost, salt, expired_at, check_symbol, code_seq
        FROM backup_codes.renew_attempt(p_user, p_salt, p_digest, p_service, p_rhost, p_host,
             p_alphabet, p_length, p_m_cost, p_t_cost, p_p_cost, p_new_salt, p_check_symbol,
             p_hashes) AS r;
    COMMIT;
END
$$;
