-- 0007: rebalancing long-lived connections. When a service's rebalance is on, report()
-- returns how many connections the reporting backend holds above its share of the service,
-- so that its agent closes them and their clients reconnect through fresh names to emptier
-- backends; a draining backend is emptied at shed_rate. 0 when rebalance is off.
--
-- Share. Over the backends in service (enabled, not draining, healthy, not stale; full ones
-- too: full is a load, not an absence), each backend's share of the connections is its
-- capacity times the service's utilisation, U = sum(connections) / sum(capacities): its part
-- of the total by capacity, the shares adding up to the total. A backend without a capacity
-- counts with the mean capacity of those that have one (1 when none has) times its weight,
-- as the servers' balancer counts it.
-- Tolerance. A backend sheds only when it holds more than 1.05 x its share, and then down to
-- its share: never one at or below its share, and not for the noise of a few connections.
-- Cap. At most shed_rate x the seconds since its previous report (at most stale_after's
-- worth after a long silence), so that clients move at a bounded rate; nothing on a first
-- report.

-- The connections to shed of a backend holding `connections` whose share is `share`
-- connections, with at most `cap` this time (pure, for tests).
CREATE FUNCTION loadns.shed_count(connections bigint, share double precision, cap bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN ((cap > 0) AND ((connections)::double precision > (1.05::double precision * share))) THEN LEAST((floor(((connections)::double precision - share)))::bigint, cap)
        ELSE (0)::bigint
    END;

-- What report() returns for backend `backend_id`, just updated, whose previous report was at
-- `previous_report` (NULL on its first).
CREATE FUNCTION loadns.connections_to_shed(backend_id bigint, previous_report timestamp with time zone) RETURNS bigint
    LANGUAGE sql STABLE
BEGIN ATOMIC
 WITH me AS (
          SELECT b.service, b.connections, b.enabled, (b.draining OR b.agent_draining) AS draining,
             b.agent_healthy, COALESCE(b.capacity, b.agent_capacity) AS capacity, b.weight,
             s.rebalance, s.shed_rate, s.stale_after
            FROM (loadns.backends b
              JOIN loadns.services s ON ((s.name = b.service)))
           WHERE (b.id = connections_to_shed.backend_id)
         ), in_service AS (
          SELECT o.connections, COALESCE(o.capacity, o.agent_capacity) AS capacity, o.weight
            FROM loadns.backends o,
             me
           WHERE ((o.service = me.service) AND o.enabled AND (NOT o.draining) AND (NOT o.agent_draining) AND (o.agent_healthy IS NOT FALSE) AND ((o.reported_at IS NULL) OR ((now() - o.reported_at) <= me.stale_after)))
         ), equal AS (
          SELECT COALESCE((avg(in_service.capacity))::double precision, (1)::double precision) AS share
            FROM in_service
         ), total AS (
          SELECT (sum(i.connections))::double precision AS connections,
             sum(COALESCE((i.capacity)::double precision, (e.share * i.weight))) AS capacity
            FROM in_service i,
             equal e
         )
  SELECT
         CASE
             WHEN ((NOT me.rebalance) OR (NOT me.enabled) OR (connections_to_shed.previous_report IS NULL) OR (me.agent_healthy IS FALSE)) THEN (0)::bigint
             WHEN me.draining THEN LEAST(me.connections, c.cap)
             ELSE loadns.shed_count(me.connections, ((COALESCE((me.capacity)::double precision, (e.share * me.weight)) * t.connections) / NULLIF(t.capacity, (0)::double precision)), c.cap)
         END AS "case"
    FROM me,
     equal e,
     total t,
     LATERAL ( SELECT (floor(((me.shed_rate)::double precision * LEAST(EXTRACT(epoch FROM (now() - connections_to_shed.previous_report)), EXTRACT(epoch FROM me.stale_after))::double precision)))::bigint AS cap) c;
END;

------------------------------------------------------------------------------------------
-- report() returns it
------------------------------------------------------------------------------------------

-- Registers the backend (enabled) on its first report, then updates what the agent knows:
-- connections, reported_at (= now(), the database clock), its own draining flag, capacity
-- and health (agent_draining, agent_capacity, agent_healthy, agent_check), and its addresses
-- if they moved. enabled, draining, capacity and weight belong to operators and are never
-- touched. serving_since becomes now() on the first report and on a report after the row
-- went stale (judged with the service's stale_after now). Returns the number of connections
-- the backend should shed (loadns.connections_to_shed()): 0 unless the service rebalances.
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
    backend_id bigint;
    service_rebalances boolean;
    previous_report timestamp with time zone;
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
    -- (`previous` reads the row as it was before this report: the time of its previous one.)
    WITH previous AS (
        SELECT p.id, p.reported_at FROM loadns.backends p
         WHERE p.service = report.service AND p.name = report.name)
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
      FROM loadns.services s, previous
     WHERE b.service = report.service AND b.name = report.name AND s.name = b.service
       AND previous.id = b.id
       AND (trusted
            OR (b.registered_by = caller
                AND EXISTS (SELECT 1 FROM loadns.agent_grants g
                             WHERE g.login = caller AND g.service = b.service)
                AND loadns.agent_address_problem(report.address, s.agent_networks) IS NULL
                AND (report.second_address IS NULL
                     OR loadns.agent_address_problem(report.second_address, s.agent_networks) IS NULL)))
    RETURNING b.id, s.rebalance, previous.reported_at INTO backend_id, service_rebalances, previous_report;
    IF FOUND THEN
        RETURN CASE WHEN service_rebalances THEN loadns.connections_to_shed(backend_id, previous_report) ELSE 0 END;
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
