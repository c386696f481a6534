-- 0009: rebalancing counts the clients on their way. A backend's share is its part of the
-- service's total, and 0007 took that total from the last reports. But the connections a
-- backend has just shed are in no report for a while: gone from its own count at once, they
-- reach another backend's count only after their clients re-resolved, reconnected and that
-- backend's agent reported again (up to a whole --interval later). Shares computed in that
-- gap are too small, so the backend that shed is told to shed again below its share, and the
-- clients it pushes out overload the receiver, which is then told to shed in turn. (Seen in
-- tests/integration/agent/test_shed_e2e.cpp: 40 / 0 shed 20, then 10 and 5 more, because the
-- receiver's last report still said 0.)
--
-- The total now counts every connection somewhere:
-- - in a report: the backends' reported connections, as before;
-- - answered but not yet reported: the answers every server gave a backend since its report
--   (less 200 ms for clients that connect a round trip after their answer), read from
--   loadns.shared_answers: the load the servers predict for it (docs/balancing.md);
-- - not yet answered: the connections the service's backends were told to shed that no answer
--   has been given for since. Each backend keeps what it was told to shed and since when
--   (shed_pending, shed_since: added up while earlier ones are still on their way); the
--   service's unanswered count is the largest, over those times, of the connections shed
--   since that time less the answers (to any of its backends) flushed after it. Answers to
--   clients that arrived for other reasons count against it too, so it errs on the small side
--   by the service's arrivals of those moments (the 5% tolerance absorbs a steady trickle).
--   A shed older than stale_after no longer counts: its clients went elsewhere or nowhere.
-- Connections counted twice (an answer flushed within 200 ms before the receiver's report)
-- only make shares larger: a backend sheds less, never below its share.
-- Servers started with --share-db off write no answers: then shed connections count as on
-- their way until stale_after, and rebalancing slows down rather than overshoots.

ALTER TABLE loadns.backends
    ADD COLUMN shed_pending bigint NOT NULL DEFAULT 0,
    ADD COLUMN shed_since timestamp with time zone,
    ADD CONSTRAINT backends_shed_pending_not_negative CHECK (shed_pending >= 0);

COMMENT ON COLUMN loadns.backends.shed_pending IS 'Connections report() told this backend to shed since shed_since, counted as on their way to other backends until answers cover them (rebalance only).';
COMMENT ON COLUMN loadns.backends.shed_since IS 'When report() first told this backend to shed the connections of shed_pending.';

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
               AND (o.reported_at IS NULL OR now() - o.reported_at <= me.stale_after)),
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
