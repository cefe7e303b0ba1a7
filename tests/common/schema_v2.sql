-- Version 2 of the fleet store's schema as its `db init` left a version 1
-- database, for tests/fleet.rs's upgrade tests, which run schema_v1.sql and
-- then this into an empty schema (version 2 kept version 1's tables and
-- helpers as they were). What an upgrade meets in an old database is its
-- tables, with their data, and its routines with their signatures and grants,
-- which it must drop or replace: the tables and constraints below are version
-- 2's, and each routine keeps its exact signature and return type, but its
-- body is a stub that raises (clip is STRICT, so its CHECKs pass a NULL
-- without running it, as they did). No test runs version 2's logic; a copy
-- of it would be a second schema to keep. Frozen: never edit it to follow
-- schema.sql.

-- Version 1's login routines, which took the policy from the caller.
DROP FUNCTION backup_codes.login_info(text, integer, integer, integer, boolean),
    backup_codes.judge(text, bytea, bytea, integer, integer, integer, integer, text, text, text);

-- The fleet's policy, one row: not the defaults, so that the test sees it kept.
CREATE TABLE backup_codes.policy (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    deny          integer NOT NULL DEFAULT 5 CHECK (deny BETWEEN 0 AND 1000),
    fail_interval integer NOT NULL DEFAULT 900 CHECK (fail_interval >= 1),
    unlock_time   integer NOT NULL DEFAULT 900 CHECK (unlock_time >= 0),
    max_age       integer NOT NULL DEFAULT 0 CHECK (max_age BETWEEN 0 AND 36500)
);
INSERT INTO backup_codes.policy (deny, fail_interval, unlock_time, max_age) VALUES (7, 600, 1200, 0);

CREATE FUNCTION backup_codes.clip(t text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
AS $$ BEGIN RAISE EXCEPTION 'a stub of version 2 (a test fixture)'; END $$;
ALTER TABLE backup_codes.sets ADD CONSTRAINT sets_fields_clipped CHECK (
    backup_codes.clip(last_failure_service) = last_failure_service
    AND backup_codes.clip(last_failure_rhost) = last_failure_rhost
    AND backup_codes.clip(last_failure_host) = last_failure_host);
ALTER TABLE backup_codes.codes ADD CONSTRAINT codes_fields_clipped CHECK (
    backup_codes.clip(used_service) = used_service
    AND backup_codes.clip(used_rhost) = used_rhost
    AND backup_codes.clip(used_host) = used_host);

-- The login routines, which read the policy from its table.
CREATE FUNCTION backup_codes.fleet_policy()
RETURNS TABLE (deny integer, fail_interval integer, unlock_time integer, max_age integer)
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 2 (a test fixture)'; END $$;

CREATE FUNCTION backup_codes.login_info(p_user text, p_remote boolean)
RETURNS TABLE (alphabet text, length integer, m_cost integer, t_cost integer,
               p_cost integer, salt bytea, locked boolean, locked_until timestamptz)
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 2 (a test fixture)'; END $$;

CREATE FUNCTION backup_codes.judge_attempt(
    p_user text, p_salt bytea, p_digest bytea, p_service text, p_rhost text, p_host text)
RETURNS TABLE (verdict text, remaining integer, locked boolean, locked_until timestamptz,
               used_at timestamptz, used_service text, used_rhost text, used_host text,
               alphabet text, length integer, m_cost integer, t_cost integer,
               p_cost integer, salt bytea, expired_at timestamptz, ageing_until timestamptz)
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 2 (a test fixture)'; END $$;

CREATE PROCEDURE backup_codes.judge(
    p_user text, p_salt bytea, p_digest bytea, p_service text, p_rhost text, p_host text,
    OUT verdict text, OUT remaining integer, OUT locked boolean, OUT locked_until timestamptz,
    OUT used_at timestamptz, OUT used_service text, OUT used_rhost text, OUT used_host text,
    OUT alphabet text, OUT length integer, OUT m_cost integer, OUT t_cost integer,
    OUT p_cost integer, OUT salt bytea, OUT expired_at timestamptz,
    OUT ageing_until timestamptz)
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a stub of version 2 (a test fixture)'; END $$;
