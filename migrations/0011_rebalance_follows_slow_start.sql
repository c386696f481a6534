-- 0011: rebalancing counts a backend in slow start with its ramped capacity, as the servers
-- do. The servers measure a backend that entered service less than services.slow_start ago
-- against capacity x ramp(t), ramp(t) = max(0.1, t / slow_start), so they send it only that
-- part of the clients; report() took its full capacity for the share, so with both slow start
-- and rebalance on, the old backends would be told to shed down to a level the newcomer was
-- not yet allowed to take, the servers would send the closed clients back to the old
-- backends, and those would be told to shed again: clients closed for nothing until the
-- window ended (follows from the two rules; not measured). Now the shares count every other
-- backend with its capacity times its ramp, so the old backends shed only what the
-- newcomer's ramp lets it take (nothing until its ramp is above 0.2 in the 4 x 1,000 + 1
-- case: 1,000 <= 1.05 x 4,000 / 4.2), and the rebalance follows the ramp.
-- The reporting backend's own capacity is never ramped: a backend back from stale or
-- unhealthy may still hold its clients, and slow start is about the new clients it gets, not
-- a reason to close the ones it has (ramping its own share would ask it to shed 90% of them
-- at once). Counting another's capacity smaller only makes a share larger: a backend sheds
-- less, never more.

-- ramp(t) of a backend in service for `in_service` (NULL: no slow start) of a service whose
-- slow start lasts `slow_start` ('0': off): 1 outside the window (pure, for tests).
CREATE FUNCTION loadns.slow_start_ramp(in_service interval, slow_start interval) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN ((slow_start <= '00:00:00'::interval) OR (in_service IS NULL) OR (in_service >= slow_start)) THEN (1)::double precision
        ELSE GREATEST((0.1)::double precision, ((EXTRACT(epoch FROM GREATEST(in_service, '00:00:00'::interval)))::double precision / (EXTRACT(epoch FROM slow_start))::double precision))
    END;

-- What report() returns for backend `backend_id`, just updated, whose previous report was at
-- `previous_report` (NULL on its first); remembers a count > 0 as on its way.
CREATE OR REPLACE FUNCTION loadns.connections_to_shed(backend_id bigint, previous_report timestamp with time zone) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    me record;
    cap bigint;
    shed bigint;
    mean_capacity double precision;
    total_connections double precision;
    total_capacity double precision;
    answered_since_shed bigint;
BEGIN
    SELECT b.service, b.connections, b.enabled, (b.draining OR b.agent_draining) AS draining,
           b.agent_healthy, coalesce(b.capacity, b.agent_capacity) AS capacity, b.weight,
           b.shed_pending, b.shed_since, s.rebalance, s.shed_rate, s.stale_after, s.slow_start
      INTO me
      FROM loadns.backends b JOIN loadns.services s ON s.name = b.service
     WHERE b.id = connections_to_shed.backend_id;
    IF NOT FOUND OR NOT me.rebalance OR NOT me.enabled OR connections_to_shed.previous_report IS NULL
       OR me.agent_healthy IS FALSE THEN
        RETURN 0;
    END IF;
    -- At most shed_rate per second since the previous report, at most stale_after's worth.
    cap := floor(me.shed_rate * least(extract(epoch FROM now() - connections_to_shed.previous_report),
                                      extract(epoch FROM me.stale_after)));
    IF me.draining THEN
        shed := least(me.connections, cap);
    ELSE
        WITH in_service AS (
            SELECT o.id, o.connections, o.reported_at,
                   coalesce(o.capacity, o.agent_capacity)::double precision AS capacity, o.weight,
                   -- Another backend in slow start counts with its ramped capacity, as the
                   -- servers count it; this one in full (migrations/0011).
                   CASE WHEN o.id = connections_to_shed.backend_id THEN 1
                        ELSE loadns.slow_start_ramp(now() - o.serving_since, me.slow_start)
                   END AS ramp
              FROM loadns.backends o
             WHERE o.service = me.service AND o.enabled AND NOT o.draining AND NOT o.agent_draining
               AND o.agent_healthy IS NOT FALSE
               AND (o.reported_at IS NULL OR now() - o.reported_at <= me.stale_after)
               -- In service since before my previous report: the servers have had an
               -- interval to load it (migrations/0010).
               AND (o.id = connections_to_shed.backend_id OR o.serving_since IS NULL
                    OR o.serving_since <= connections_to_shed.previous_report)),
        equal AS (
            SELECT coalesce(avg(i.capacity), 1) AS capacity FROM in_service i),
        -- Answered but not in a report yet (the reporting backend's own report is now).
        answered AS (
            SELECT coalesce(sum(a.answers), 0) AS n
              FROM in_service i JOIN loadns.shared_answers a ON a.backend_id = i.id
             WHERE i.id <> connections_to_shed.backend_id
               AND a.flushed_at > coalesce(i.reported_at, '-infinity') - interval '200 milliseconds'),
        -- Shed, not answered yet.
        sheds AS (
            SELECT o.shed_pending AS n, o.shed_since AS since
              FROM loadns.backends o
             WHERE o.service = me.service AND o.shed_pending > 0
               AND o.shed_since > now() - me.stale_after),
        unanswered AS (
            SELECT coalesce(max(greatest(0,
                       (SELECT sum(l.n) FROM sheds l WHERE l.since >= s.since)
                       - (SELECT coalesce(sum(a.answers), 0)
                            FROM loadns.shared_answers a JOIN loadns.backends o ON o.id = a.backend_id
                           WHERE o.service = me.service AND a.flushed_at > s.since))), 0) AS n
              FROM sheds s)
        SELECT e.capacity,
               coalesce((SELECT sum(i.connections) FROM in_service i), 0) + an.n + un.n,
               (SELECT sum(coalesce(i.capacity, e.capacity * i.weight) * i.ramp) FROM in_service i)
          INTO mean_capacity, total_connections, total_capacity
          FROM equal e, answered an, unanswered un;
        shed := loadns.shed_count(me.connections,
                                  coalesce(me.capacity, mean_capacity * me.weight) * total_connections
                                      / nullif(total_capacity, 0),
                                  cap);
    END IF;
    IF shed > 0 THEN
        -- Added to what is still on its way (its time kept), or a count of its own.
        SELECT coalesce(sum(a.answers), 0) INTO answered_since_shed
          FROM loadns.shared_answers a JOIN loadns.backends o ON o.id = a.backend_id
         WHERE o.service = me.service AND a.flushed_at > me.shed_since;
        UPDATE loadns.backends b
           SET shed_pending = CASE WHEN me.shed_pending > answered_since_shed
                                        AND me.shed_since > now() - me.stale_after
                                   THEN me.shed_pending + shed ELSE shed END,
               shed_since = CASE WHEN me.shed_pending > answered_since_shed
                                      AND me.shed_since > now() - me.stale_after
                                 THEN me.shed_since ELSE now() END
         WHERE b.id = connections_to_shed.backend_id;
    END IF;
    RETURN shed;
END
$$;
