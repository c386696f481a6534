-- 0002: NOTIFY loadns_changed on operator changes, so servers reload at once; load reports
-- stay silent.

-- NOTIFY loadns_changed (payload: the table) so servers reload at once. Notifications are
-- sent at commit and merged per transaction.
CREATE FUNCTION loadns.notify_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM pg_notify('loadns_changed', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER zones_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loadns.zones
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.notify_changed();
CREATE TRIGGER services_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loadns.services
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.notify_changed();
CREATE TRIGGER records_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loadns.records
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.notify_changed();
CREATE TRIGGER backends_notify AFTER INSERT OR DELETE OR TRUNCATE ON loadns.backends
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.notify_changed();
-- Load reports change only connections, agent_capacity and reported_at: no notification
-- (the poll picks them up). Anything that changes who is answered does: operator columns, and
-- an agent draining on shutdown or moving address.
CREATE TRIGGER backends_notify_update AFTER UPDATE ON loadns.backends
    FOR EACH ROW
    WHEN ((old.service, old.name, old.address, old.enabled, old.draining, old.agent_draining, old.capacity, old.weight)
          IS DISTINCT FROM (new.service, new.name, new.address, new.enabled, new.draining, new.agent_draining, new.capacity, new.weight))
    EXECUTE FUNCTION loadns.notify_changed();

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA loadns FROM PUBLIC;
