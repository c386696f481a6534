-- 0006: an agent speaks only for its own backend. report() called by a login that is
-- neither the schema owner (or a member of it) nor a superuser refuses, with SQLSTATE 42501
-- and a message naming the reason: a service without a grant for that login
-- (loadns.agent_grants), a row registered by another login or by an operator
-- (backends.registered_by), an address that is unspecified, multicast or broadcast, a
-- loopback or link-local address that services.agent_networks does not list, or an address
-- outside agent_networks when it is set. A refused call changes nothing.
--
-- The caller is session_user, the login that connected: SET ROLE cannot change it, and
-- inside this SECURITY DEFINER function current_user is the function's owner.
--
-- Upgrading: rows that exist keep registered_by NULL (an operator's row), so their agents'
-- reports are refused until an operator grants the login the service and hands each row over
-- (README, "Agent logins"):
--   INSERT INTO loadns.agent_grants (login, service) VALUES ('agent_web1', 'api.example.com');
--   UPDATE loadns.backends SET registered_by = 'agent_web1' WHERE name = 'web1';

------------------------------------------------------------------------------------------
-- Future functions are not executable by PUBLIC
------------------------------------------------------------------------------------------

-- PostgreSQL lets PUBLIC execute every new function unless told otherwise; every migration
-- so far revoked it by hand. Default privileges of the migrating role (the schema owner) in
-- this database: a function it creates from now on is executable by its owner alone until
-- granted. (Per-schema default privileges can only add to the global ones, so this is the
-- role's global default, in this database only.)
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

------------------------------------------------------------------------------------------
-- Who may report for what
------------------------------------------------------------------------------------------

CREATE TABLE loadns.agent_grants (
    login name NOT NULL,
    service text NOT NULL REFERENCES loadns.services (name) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT agent_grants_pkey PRIMARY KEY (login, service),
    CONSTRAINT agent_grants_login_not_empty CHECK (login <> ''::name)
);

-- The foreign key's cascades look rows up by service.
CREATE INDEX agent_grants_service_idx ON loadns.agent_grants (service);

COMMENT ON TABLE loadns.agent_grants IS 'Which login may call report() for which service (the schema owner and superusers need no grant).';
COMMENT ON COLUMN loadns.agent_grants.login IS 'A login role (session_user of the agent''s connection), e.g. one per backend host.';

-- Why `address` may not be a backend address reported by an agent, or NULL. Never the
-- unspecified address (RFC 4291 2.5.2; 0.0.0.0/8, RFC 1122 3.2.1.3), multicast (RFC 5771,
-- RFC 4291 2.7) or the limited broadcast address (RFC 919); an IPv4-mapped IPv6 address
-- stands for the IPv4 one, which is to be reported as such. Loopback (127.0.0.0/8, ::1) and
-- link-local (169.254.0.0/16, fe80::/10; RFC 3927, RFC 4291 2.5.6) only when one of
-- `networks` covers them: clients would connect to their own host or link. When `networks`
-- is set, the address must lie inside one of them.
-- A plain SQL expression (no SET clause) so that report() gets it inlined.
CREATE FUNCTION loadns.agent_address_problem(address inet, networks cidr[]) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE
        WHEN (address IS NULL) THEN NULL::text
        WHEN (address <<= '::ffff:0.0.0.0/96'::inet) THEN 'is an IPv4-mapped IPv6 address (report the IPv4 address itself)'::text
        WHEN ((address <<= '0.0.0.0/8'::inet) OR (address = '::'::inet)) THEN 'is an unspecified address'::text
        WHEN ((address <<= '224.0.0.0/4'::inet) OR (address <<= 'ff00::/8'::inet)) THEN 'is a multicast address'::text
        WHEN (address = '255.255.255.255'::inet) THEN 'is the broadcast address'::text
        WHEN (((address <<= '127.0.0.0/8'::inet) OR (address = '::1'::inet)) AND (NOT COALESCE((address <<= ANY ((networks)::inet[])), false))) THEN 'is a loopback address, which the service''s agent_networks does not list'::text
        WHEN (((address <<= '169.254.0.0/16'::inet) OR (address <<= 'fe80::/10'::inet)) AND (NOT COALESCE((address <<= ANY ((networks)::inet[])), false))) THEN 'is a link-local address, which the service''s agent_networks does not list'::text
        WHEN ((networks IS NOT NULL) AND (NOT COALESCE((address <<= ANY ((networks)::inet[])), false))) THEN ('is outside the service''s agent_networks '::text || (networks)::text)
        ELSE NULL::text
    END;

------------------------------------------------------------------------------------------
-- The agent's one call, refusing what its login may not say
------------------------------------------------------------------------------------------

-- Registers the backend (enabled) on its first report, then updates what the agent knows:
-- connections, reported_at (= now(), the database clock), its own draining flag, capacity
-- and health (agent_draining, agent_capacity, agent_healthy, agent_check), and its addresses
-- if they moved. enabled, draining, capacity and weight belong to operators and are never
-- touched. serving_since becomes now() on the first report and on a report after the row
-- went stale (judged with the service's stale_after now). Returns the number of connections
-- the backend should shed: 0 unless the service rebalances.
-- A caller other than the schema owner (or a member) or a superuser is refused (42501) for a
-- service it has no grant for, a row another login or an operator registered, or an address
-- agent_address_problem() finds fault with; a row it creates is registered_by it.
-- SECURITY DEFINER so that loadns_agent needs no table privileges.
CREATE OR REPLACE FUNCTION loadns.report(service text, name text, address inet, connections bigint, capacity bigint DEFAULT NULL::bigint, draining boolean DEFAULT false, healthy boolean DEFAULT true, check_detail text DEFAULT NULL::text, second_address inet DEFAULT NULL::inet) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    caller name := session_user;
    -- Members of the schema owner may do anything to the tables anyway: nothing to refuse
    -- them. The schema owner is the role that ran the migrations, which owns this function:
    -- current_user here (SECURITY DEFINER). Superusers are members of every role.
    trusted boolean := pg_has_role(session_user, current_user, 'MEMBER');
    service_stale_after interval;
    service_networks cidr[];
    granted boolean;
    problem text;
    row_owner name;
    -- The agent's words, only while unhealthy: one line, bounded (people read it in
    -- backend_status.reason).
    detail text := CASE WHEN report.healthy IS FALSE
                        THEN left(regexp_replace(report.check_detail, '[[:cntrl:]]+', ' ', 'g'), 200) END;
BEGIN
    IF report.service IS NULL OR report.name IS NULL OR report.address IS NULL
       OR report.connections IS NULL THEN
        RAISE EXCEPTION 'loadns.report: service, name, address and connections are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- The common case in one statement: a registered row whose report passes every check.
    UPDATE loadns.backends b
       SET connections = report.connections,
           agent_capacity = report.capacity,
           agent_draining = coalesce(report.draining, false),
           agent_healthy = report.healthy,
           agent_check = detail,
           address = report.address,
           second_address = report.second_address,
           serving_since = CASE WHEN b.reported_at IS NULL OR now() - b.reported_at > s.stale_after
                                THEN now() ELSE b.serving_since END,
           reported_at = now()
      FROM loadns.services s
     WHERE b.service = report.service AND b.name = report.name AND s.name = b.service
       AND (trusted
            OR (b.registered_by = caller
                AND EXISTS (SELECT 1 FROM loadns.agent_grants g
                             WHERE g.login = caller AND g.service = b.service)
                AND loadns.agent_address_problem(report.address, s.agent_networks) IS NULL
                AND (report.second_address IS NULL
                     OR loadns.agent_address_problem(report.second_address, s.agent_networks) IS NULL)));
    IF FOUND THEN
        RETURN 0;
    END IF;

    -- A first report, or a refusal: each check in turn, to name the reason.
    SELECT s.stale_after, s.agent_networks,
           EXISTS (SELECT 1 FROM loadns.agent_grants g WHERE g.login = caller AND g.service = s.name)
      INTO service_stale_after, service_networks, granted
      FROM loadns.services s WHERE s.name = report.service;
    IF NOT trusted AND granted IS NOT TRUE THEN
        -- (an unknown service too: a login learns nothing about services it may not report for)
        RAISE EXCEPTION 'loadns.report: login "%" has no grant for service "%"', caller, report.service
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'An operator grants it: INSERT INTO loadns.agent_grants (login, service) VALUES (...).';
    END IF;
    IF service_stale_after IS NULL THEN
        RAISE EXCEPTION 'loadns.report: unknown service "%"', report.service
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'An operator creates services: INSERT INTO loadns.services (name) VALUES (...).';
    END IF;
    IF NOT trusted THEN
        problem := loadns.agent_address_problem(report.address, service_networks);
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'loadns.report: address % of backend "%" %', host(report.address), report.name, problem
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        problem := CASE WHEN report.second_address IS NOT NULL
                        THEN loadns.agent_address_problem(report.second_address, service_networks) END;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'loadns.report: second address % of backend "%" %', host(report.second_address), report.name, problem
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        SELECT b.registered_by INTO row_owner
          FROM loadns.backends b WHERE b.service = report.service AND b.name = report.name;
        IF FOUND AND row_owner IS NULL THEN
            RAISE EXCEPTION 'loadns.report: backend "%" of service "%" is an operator''s row', report.name, report.service
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('An operator hands it over: UPDATE loadns.backends SET registered_by = %L WHERE service = %L AND name = %L',
                                    caller, report.service, report.name);
        ELSIF FOUND AND row_owner <> caller THEN
            RAISE EXCEPTION 'loadns.report: backend "%" of service "%" is registered by another login', report.name, report.service
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    -- Not there yet (or it passed every check since the UPDATE above looked): register it.
    INSERT INTO loadns.backends AS b
           (service, name, address, second_address, connections, agent_capacity,
            agent_draining, agent_healthy, agent_check, reported_at, serving_since, registered_by)
    VALUES (report.service, report.name, report.address, report.second_address,
            report.connections, report.capacity, coalesce(report.draining, false),
            report.healthy, detail, now(), now(), CASE WHEN NOT trusted THEN caller END)
    ON CONFLICT ON CONSTRAINT backends_service_name_unique DO UPDATE
       SET connections = excluded.connections,
           agent_capacity = excluded.agent_capacity,
           agent_draining = excluded.agent_draining,
           agent_healthy = excluded.agent_healthy,
           agent_check = excluded.agent_check,
           address = excluded.address,
           second_address = excluded.second_address,
           serving_since = CASE WHEN b.reported_at IS NULL OR now() - b.reported_at > service_stale_after
                                THEN now() ELSE b.serving_since END,
           reported_at = excluded.reported_at
     WHERE trusted OR b.registered_by = caller;
    IF NOT FOUND THEN
        -- Registered by another login between our look and our insert.
        RAISE EXCEPTION 'loadns.report: backend "%" of service "%" is registered by another login', report.name, report.service
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN 0;
END
$$;
