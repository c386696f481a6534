-- 0005: the columns of round two and report()'s new signature: health judged by the agent
-- (agent_healthy, agent_check, state 'unhealthy'), what to answer when too few serve
-- (min_serving, on_empty), who may report (agent_networks, registered_by: enforced by a later
-- migration), slow start and rebalancing (serving_since, slow_start, rebalance, shed_rate),
-- dual-stack hosts (second_address), and backend_status.reason. Old 6-argument report()
-- calls keep working through the defaults; new columns have defaults.

------------------------------------------------------------------------------------------
-- services
------------------------------------------------------------------------------------------

ALTER TABLE loadns.services
    ADD COLUMN min_serving integer NOT NULL DEFAULT 1,
    ADD COLUMN on_empty text NOT NULL DEFAULT 'fail_open',
    ADD COLUMN agent_networks cidr[] DEFAULT NULL,
    ADD COLUMN slow_start interval NOT NULL DEFAULT '00:00:00'::interval,
    ADD COLUMN rebalance boolean NOT NULL DEFAULT false,
    ADD COLUMN shed_rate integer NOT NULL DEFAULT 50,
    ADD CONSTRAINT services_min_serving_range CHECK (min_serving >= 0),
    ADD CONSTRAINT services_on_empty_known CHECK (on_empty IN ('fail_open', 'nodata', 'servfail')),
    ADD CONSTRAINT services_agent_networks_no_null CHECK (array_position(agent_networks, NULL) IS NULL),
    ADD CONSTRAINT services_slow_start_range CHECK (slow_start >= '00:00:00'::interval),
    ADD CONSTRAINT services_shed_rate_positive CHECK (shed_rate > 0);

COMMENT ON COLUMN loadns.services.min_serving IS 'When fewer backends of the queried family are serving, on_empty applies (0: never).';
COMMENT ON COLUMN loadns.services.on_empty IS 'fail_open (answer from all enabled backends), nodata (NOERROR, SOA in authority) or servfail.';
COMMENT ON COLUMN loadns.services.agent_networks IS 'When set, an agent''s addresses must lie inside one of these networks (loopback and link-local only when listed); NULL = any public address.';
COMMENT ON COLUMN loadns.services.slow_start IS 'A backend entering service (see backends.serving_since) counts with capacity x max(0.1, t / slow_start) until t = slow_start; 0 = off.';
COMMENT ON COLUMN loadns.services.rebalance IS 'When on, report() returns how many connections a backend holds above its share (at most shed_rate per second).';
COMMENT ON COLUMN loadns.services.shed_rate IS 'Most connections per second report() asks one backend to shed when rebalance is on.';

------------------------------------------------------------------------------------------
-- backends
------------------------------------------------------------------------------------------

-- serving_since: existing rows get the time of this migration, so a slow start switched on
-- later ramps them all alike (the same share each) rather than treating them as new.
ALTER TABLE loadns.backends
    ADD COLUMN agent_healthy boolean,
    ADD COLUMN agent_check text,
    ADD COLUMN registered_by name,
    ADD COLUMN second_address inet,
    ADD COLUMN serving_since timestamp with time zone DEFAULT now(),
    ADD CONSTRAINT backends_second_address_single_host CHECK (masklen(second_address) = CASE family(second_address) WHEN 4 THEN 32 ELSE 128 END),
    ADD CONSTRAINT backends_second_address_other_family CHECK (family(second_address) <> family(address));

COMMENT ON COLUMN loadns.backends.agent_healthy IS 'The agent''s judgement of its service (report(healthy)); false = left out like a draining backend; NULL = no agent reported health.';
COMMENT ON COLUMN loadns.backends.agent_check IS 'The agent''s words for its last failed check (e.g. listen: nothing listens on port 8080); NULL when healthy.';
COMMENT ON COLUMN loadns.backends.registered_by IS 'The login whose report created the row; NULL = an operator''s row. An operator sets it to hand a row to an agent''s login.';
COMMENT ON COLUMN loadns.backends.second_address IS 'A dual-stack host''s address of the other family (A and AAAA answers both name this row, one load unit); NULL if none.';
COMMENT ON COLUMN loadns.backends.serving_since IS 'When the backend last entered service (first report, enabled again, undrained, healthy again, back from stale); slow start ramps from it.';

-- serving_since on operator changes and on the agent's draining or health: a row that was
-- out (disabled, draining, unhealthy) and is now in enters service now. A statement that sets
-- serving_since itself is obeyed (report() does, for a first report and a return from
-- stale, which need the service's stale_after). The WHEN clause keeps plain load reports
-- from calling the function at all.
CREATE FUNCTION loadns.backends_enter_service() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    NEW.serving_since := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER backends_serving_since BEFORE UPDATE ON loadns.backends
    FOR EACH ROW
    WHEN ((new.enabled AND NOT new.draining AND NOT new.agent_draining AND new.agent_healthy IS NOT FALSE)
          AND NOT (old.enabled AND NOT old.draining AND NOT old.agent_draining AND old.agent_healthy IS NOT FALSE)
          AND new.serving_since IS NOT DISTINCT FROM old.serving_since)
    EXECUTE FUNCTION loadns.backends_enter_service();

-- A report that changes health, the agent's draining, an address or the time the backend
-- entered service (back from stale) notifies; load reports (connections, capacity,
-- reported_at, agent_check alone) still do not.
DROP TRIGGER backends_notify_update ON loadns.backends;
CREATE TRIGGER backends_notify_update AFTER UPDATE ON loadns.backends
    FOR EACH ROW
    WHEN ((old.service, old.name, old.address, old.second_address, old.enabled, old.draining, old.agent_draining, old.agent_healthy, old.capacity, old.weight, old.serving_since)
          IS DISTINCT FROM (new.service, new.name, new.address, new.second_address, new.enabled, new.draining, new.agent_draining, new.agent_healthy, new.capacity, new.weight, new.serving_since))
    EXECUTE FUNCTION loadns.notify_changed();

------------------------------------------------------------------------------------------
-- The agent's one call, with health, a second address and a result
------------------------------------------------------------------------------------------

DROP FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean);

-- Registers the backend (enabled) on its first report, then updates what the agent knows:
-- connections, reported_at (= now(), the database clock), its own draining flag, capacity
-- and health (agent_draining, agent_capacity, agent_healthy, agent_check), and its addresses
-- if they moved. enabled, draining, capacity and weight belong to operators and are never
-- touched. serving_since becomes now() on the first report and on a report after the row
-- went stale (judged with the service's stale_after now). Returns the number of connections
-- the backend should shed: 0 unless the service rebalances.
-- SECURITY DEFINER so that loadns_agent needs no table privileges.
CREATE FUNCTION loadns.report(service text, name text, address inet, connections bigint, capacity bigint DEFAULT NULL::bigint, draining boolean DEFAULT false, healthy boolean DEFAULT true, check_detail text DEFAULT NULL::text, second_address inet DEFAULT NULL::inet) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    service_stale_after interval;
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
    SELECT s.stale_after INTO service_stale_after FROM loadns.services s WHERE s.name = report.service;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'loadns.report: unknown service "%"', report.service
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'An operator creates services: INSERT INTO loadns.services (name) VALUES (...).';
    END IF;
    UPDATE loadns.backends b
       SET connections = report.connections,
           agent_capacity = report.capacity,
           agent_draining = coalesce(report.draining, false),
           agent_healthy = report.healthy,
           agent_check = detail,
           address = report.address,
           second_address = report.second_address,
           serving_since = CASE WHEN b.reported_at IS NULL OR now() - b.reported_at > service_stale_after
                                THEN now() ELSE b.serving_since END,
           reported_at = now()
     WHERE b.service = report.service AND b.name = report.name;
    IF NOT FOUND THEN
        INSERT INTO loadns.backends AS b
               (service, name, address, second_address, connections, agent_capacity,
                agent_draining, agent_healthy, agent_check, reported_at, serving_since)
        VALUES (report.service, report.name, report.address, report.second_address,
                report.connections, report.capacity, coalesce(report.draining, false),
                report.healthy, detail, now(), now())
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
               reported_at = excluded.reported_at;
    END IF;
    RETURN 0;
END
$$;

COMMENT ON FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean, boolean, text, inet) IS 'The agent''s report: registers the backend on first call, then updates only what the agent knows; returns the connections to shed.';

REVOKE ALL ON FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean, boolean, text, inet) FROM PUBLIC;
REVOKE ALL ON FUNCTION loadns.backends_enter_service() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean, boolean, text, inet) TO loadns_agent;

------------------------------------------------------------------------------------------
-- backend_status: state 'unhealthy', and why a backend is not serving
------------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW loadns.backend_status AS
 SELECT b.id,
    b.service,
    b.name,
    b.address,
    CASE
        WHEN NOT b.enabled THEN 'disabled'::text
        WHEN (b.draining OR b.agent_draining) THEN 'draining'::text
        WHEN ((b.reported_at IS NOT NULL) AND ((now() - b.reported_at) > s.stale_after)) THEN 'stale'::text
        WHEN (b.agent_healthy IS FALSE) THEN 'unhealthy'::text
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
    (now() - b.reported_at) AS report_age,
    CASE
        WHEN NOT b.enabled THEN 'disabled by an operator'::text
        WHEN (b.draining AND b.agent_draining) THEN 'draining by an operator and by its agent'::text
        WHEN b.draining THEN 'draining by an operator'::text
        WHEN b.agent_draining THEN 'draining by its agent'::text
        WHEN ((b.reported_at IS NOT NULL) AND ((now() - b.reported_at) > s.stale_after)) THEN ('stale since '::text || to_char(timezone('UTC'::text, b.reported_at), 'YYYY-MM-DD HH24:MI:SS "UTC"'::text))
        WHEN (b.agent_healthy IS FALSE) THEN ('unhealthy: '::text || COALESCE(b.agent_check, 'its agent gave no detail'::text))
        WHEN (COALESCE(b.capacity, b.agent_capacity) IS NOT NULL AND b.connections >= COALESCE(b.capacity, b.agent_capacity)) THEN format('full at %s of %s connections'::text, b.connections, COALESCE(b.capacity, b.agent_capacity))
        ELSE NULL::text
    END AS reason,
    b.second_address,
    b.agent_healthy,
    b.serving_since,
    b.registered_by
   FROM (loadns.backends b
     JOIN loadns.services s ON ((s.name = b.service)));

COMMENT ON VIEW loadns.backend_status IS 'Backends with their effective state (in precedence order disabled, draining, stale, unhealthy, full, serving), why (reason, NULL when serving), utilisation and report age.';
