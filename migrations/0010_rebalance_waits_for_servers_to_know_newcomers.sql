-- 0010: a backend entering service lowers the others' shares only from their next report
-- on. Its first report (or its return: enabled, undrained, healthy, back from stale) is in
-- the database at once, but the servers answer with it only once they have loaded it (on the
-- NOTIFY that report sends, or at their next poll). A backend told to shed in that gap sends
-- its clients back to the old backends: in bench/balance/rebalance the first sheds came 23 ms
-- after the newcomer's first report, and 100 of the first 200 clients closed reconnected to
-- the old backends (which were then within the 5% tolerance while the newcomer was 15% below
-- the mean). So the shares of a report count only the backends in service since the
-- reporting backend's previous report (serving_since <= it): the servers get one of its
-- intervals to load the newcomer, and the rebalance starts at most one interval later.

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
           b.shed_pending, b.shed_since, s.rebalance, s.shed_rate, s.stale_after
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
                   coalesce(o.capacity, o.agent_capacity)::double precision AS capacity, o.weight
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
               (SELECT sum(coalesce(i.capacity, e.capacity * i.weight)) FROM in_service i)
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
