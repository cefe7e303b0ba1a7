-- Version 1 of the fleet store's schema as its `db init` left a database, for
-- tests/fleet.rs's upgrade tests (which run it into an empty schema, then
-- upgrade it). What an upgrade meets in an old database is its tables, with
-- their data, and its routines with their signatures and grants, which it must
-- drop or replace: the tables below are version 1's, column for column, and
-- each routine keeps its exact signature and return type, but its body is a
-- stub that raises. No test runs version 1's logic; a copy of it would be a
-- second schema to keep. Frozen: never edit it to follow schema.sql.

CREATE TABLE backup_codes.sets (
    user_name            text PRIMARY KEY CHECK (octet_length(user_name) BETWEEN 1 AND 250),
    created              timestamptz NOT NULL,
    revoked              timestamptz,
    alphabet             text NOT NULL CHECK (alphabet IN ('crockford', 'digits')),
    length               integer NOT NULL CHECK (length BETWEEN 8 AND 32),
    m_cost               integer NOT NULL,
    t_cost               integer NOT NULL,
    p_cost               integer NOT NULL,
    salt                 bytea NOT NULL CHECK (octet_length(salt) = 16),
    local_failures       timestamptz[] NOT NULL DEFAULT '{}',
    remote_failures      timestamptz[] NOT NULL DEFAULT '{}',
    remote_in_a_row      integer NOT NULL DEFAULT 0,
    last_failure_at      timestamptz,
    last_failure_service text,
    last_failure_rhost   text,
    last_failure_host    text
);

CREATE TABLE backup_codes.codes (
    user_name    text NOT NULL REFERENCES backup_codes.sets ON DELETE CASCADE,
    seq          integer NOT NULL CHECK (seq >= 0),
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
    used_at      timestamptz,
    used_service text,
    used_rhost   text,
    used_host    text,
    expires      timestamptz,
    PRIMARY KEY (user_name, seq)
);

CREATE FUNCTION backup_codes.set_end(created timestamptz, max_age integer) RETURNS timestamptz
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 1 (a test fixture)'; END $$;

CREATE FUNCTION backup_codes.lock_of(
    times timestamptz[], deny integer, fail_interval integer, unlock_time integer)
RETURNS timestamptz
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 1 (a test fixture)'; END $$;

CREATE FUNCTION backup_codes.scope_lock(
    times timestamptz[], deny integer, fail_interval integer, unlock_time integer,
    now_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 1 (a test fixture)'; END $$;

CREATE FUNCTION backup_codes.login_lock(
    s backup_codes.sets, deny integer, fail_interval integer, unlock_time integer,
    remote boolean, now_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 1 (a test fixture)'; END $$;

-- The login routines, which took the lockout policy from the caller.
CREATE FUNCTION backup_codes.login_info(
    p_user text, p_deny integer, p_fail_interval integer, p_unlock_time integer,
    p_remote boolean)
RETURNS TABLE (alphabet text, length integer, m_cost integer, t_cost integer,
               p_cost integer, salt bytea, locked boolean, locked_until timestamptz)
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 1 (a test fixture)'; END $$;

CREATE FUNCTION backup_codes.judge(
    p_user text, p_salt bytea, p_digest bytea,
    p_deny integer, p_fail_interval integer, p_unlock_time integer, p_max_age integer,
    p_service text, p_rhost text, p_host text)
RETURNS TABLE (verdict text, remaining integer, locked boolean, locked_until timestamptz,
               used_at timestamptz, used_service text, used_rhost text, used_host text,
               alphabet text, length integer, m_cost integer, t_cost integer,
               p_cost integer, salt bytea, expired_at timestamptz, ageing_until timestamptz)
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 1 (a test fixture)'; END $$;
