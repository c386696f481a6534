-- 0003: loadns.report() for agents, the backend_status view for people, and privileges:
-- agents only report, servers only read.

------------------------------------------------------------------------------------------
-- The agent's one call
------------------------------------------------------------------------------------------

-- Registers the backend (enabled) on its first report, then updates its load: connections,
-- reported_at (= now(), the database clock), the agent's own draining flag and capacity
-- (agent_draining, agent_capacity), and its address if it moved. enabled, draining, capacity
-- and weight belong to operators and are never touched.
-- SECURITY DEFINER so that loadns_agent needs no table privileges.
CREATE FUNCTION loadns.report(service text, name text, address inet, connections bigint, capacity bigint DEFAULT NULL::bigint, draining boolean DEFAULT false) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF report.service IS NULL OR report.name IS NULL OR report.address IS NULL
       OR report.connections IS NULL THEN
        RAISE EXCEPTION 'loadns.report: service, name, address and connections are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM loadns.services s WHERE s.name = report.service) THEN
        RAISE EXCEPTION 'loadns.report: unknown service "%"', report.service
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'An operator creates services: INSERT INTO loadns.services (name) VALUES (...).';
    END IF;
    UPDATE loadns.backends b
       SET connections = report.connections,
           agent_capacity = report.capacity,
           agent_draining = coalesce(report.draining, false),
           address = report.address,
           reported_at = now()
     WHERE b.service = report.service AND b.name = report.name;
    IF NOT FOUND THEN
        INSERT INTO loadns.backends AS b
               (service, name, address, connections, agent_capacity, agent_draining, reported_at)
        VALUES (report.service, report.name, report.address, report.connections,
                report.capacity, coalesce(report.draining, false), now())
        ON CONFLICT ON CONSTRAINT backends_service_name_unique DO UPDATE
           SET connections = excluded.connections,
               agent_capacity = excluded.agent_capacity,
               agent_draining = excluded.agent_draining,
               address = excluded.address,
               reported_at = excluded.reported_at;
    END IF;
END
$$;

COMMENT ON FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean) IS 'The agent''s report: registers the backend on first call, then updates only its load columns.';

------------------------------------------------------------------------------------------
-- For people
------------------------------------------------------------------------------------------

-- Each backend's effective state as the servers judge it: disabled, draining, stale (an agent
-- reported once but not within the service's stale_after), full (connections >= effective
-- capacity), else serving. utilisation = connections / effective capacity.
CREATE VIEW loadns.backend_status AS
 SELECT b.id,
    b.service,
    b.name,
    b.address,
    CASE
        WHEN NOT b.enabled THEN 'disabled'::text
        WHEN (b.draining OR b.agent_draining) THEN 'draining'::text
        WHEN ((b.reported_at IS NOT NULL) AND ((now() - b.reported_at) > s.stale_after)) THEN 'stale'::text
        WHEN (COALESCE(b.capacity, b.agent_capacity) IS NOT NULL AND b.connections >= COALESCE(b.capacity, b.agent_capacity)) THEN 'full'::text
        ELSE 'serving'::text
    END AS state,
    b.connections,
    COALESCE(b.capacity, b.agent_capacity) AS capacity,
    round(((b.connections)::numeric / (NULLIF(COALESCE(b.capacity, b.agent_capacity), 0))::numeric), 3) AS utilisation,
    b.weight,
    b.enabled,
    (b.draining OR b.agent_draining) AS draining,
    b.reported_at,
    (now() - b.reported_at) AS report_age
   FROM (loadns.backends b
     JOIN loadns.services s ON ((s.name = b.service)));

COMMENT ON VIEW loadns.backend_status IS 'Backends with their effective state (serving, stale, draining, disabled, full), utilisation and report age.';

------------------------------------------------------------------------------------------
-- Privileges: agents only report, servers only read, operators own everything.
------------------------------------------------------------------------------------------

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA loadns FROM PUBLIC;

GRANT USAGE ON SCHEMA loadns TO loadns_agent, loadns_server;
GRANT EXECUTE ON FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean) TO loadns_agent;
GRANT SELECT ON loadns.zones, loadns.services, loadns.backends, loadns.records,
    loadns.backend_status, loadns.schema_migrations TO loadns_server;
