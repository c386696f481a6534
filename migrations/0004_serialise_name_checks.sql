-- 0004: the checks that read other rows of a name (a CNAME is alone at its name, RFC 2181
-- 10.1; a balanced service's name has no static A, AAAA or CNAME) hold under concurrency.
--
-- records_before_write and services_before_write check with EXISTS over committed rows. Two
-- READ COMMITTED transactions (CNAME www and A www; service api and A api) each passed the
-- check before the other committed, both committed, and every server then refused each new
-- snapshot until someone deleted a row. Now each function first locks the row of the name's
-- zone (FOR NO KEY UPDATE, held until commit) and checks after the previous writer of that
-- zone has committed or rolled back.
--   * Why the zone row and not a per-name pg_advisory_xact_lock: every write to records or
--     services already updates its zone's row (the serial bump at the end of the statement)
--     and holds that lock until commit, so writers of one zone already waited for each other
--     and taking the lock earlier costs no concurrency. Advisory locks take one shared lock
--     table entry per name until commit (max_connections * max_locks_per_transaction in
--     all): importing 30000 records in one transaction failed with "out of shared memory"
--     at max_connections = 200.
--   * Only NEW's zone is locked, not OLD's when an UPDATE renames: a row that leaves a name
--     cannot make a conflict there, and a name has exactly one zone (its longest enclosing
--     one), so two writers of one name always meet on the same row.
--   * READ COMMITTED: the EXISTS after the lock is a new statement with a new snapshot, so it
--     sees what the previous writer committed; the second of two conflicting writers gets
--     the usual check_violation.
--   * REPEATABLE READ and SERIALIZABLE: the snapshot is the transaction's and may predate the
--     other writer's commit, so the EXISTS could miss its rows; but locking a zone row that a
--     transaction outside the snapshot updated (its serial) fails with serialization_failure
--     (40001, "could not serialize access due to concurrent update"), to be retried. (These
--     levels were safe before too: the serial bump's UPDATE failed the same way.)
--   * Deadlocks: a zone is one row, so writers of one zone only queue. Transactions writing
--     to two zones in opposite orders could already deadlock on the serial bumps; PostgreSQL
--     aborts one with deadlock_detected (40P01), to be retried.
-- Apart from the lock both functions are unchanged.

CREATE OR REPLACE FUNCTION loadns.records_before_write() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problem text;
BEGIN
    -- Writers of one zone take turns, so that the checks below see what the previous one
    -- committed (see above); NEW.zone is set by records_assign_zone, which fires first.
    PERFORM 1 FROM loadns.zones z WHERE z.name = NEW.zone FOR NO KEY UPDATE;
    NEW.type := upper(NEW.type);
    IF NEW.type NOT IN ('A', 'AAAA', 'CNAME', 'TXT', 'MX') THEN
        RAISE EXCEPTION 'record type "%" is not supported (A, AAAA, CNAME, TXT, MX)', NEW.type
            USING ERRCODE = 'check_violation', CONSTRAINT = 'records_type_supported';
    END IF;
    IF NEW.type IN ('CNAME', 'MX') THEN
        NEW.data := rtrim(lower(NEW.data), '.');
    END IF;
    problem := loadns.record_data_problem(NEW.type, NEW.data);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid % record data for "%": "%" %', NEW.type, NEW.name, NEW.data, problem
            USING ERRCODE = 'check_violation', CONSTRAINT = 'records_data_valid';
    END IF;
    IF NEW.type IN ('A', 'AAAA') THEN
        NEW.data := host(NEW.data::inet);
    END IF;
    IF NEW.type = 'CNAME' AND NEW.name = NEW.zone THEN
        RAISE EXCEPTION 'a CNAME cannot be at the zone apex "%"', NEW.name
            USING ERRCODE = 'check_violation', HINT = 'The apex holds the SOA and NS records (RFC 1034 3.6.2).';
    END IF;
    IF EXISTS (SELECT 1 FROM loadns.records r
                WHERE r.name = NEW.name AND r.id <> NEW.id
                  AND (r.type = 'CNAME' OR NEW.type = 'CNAME')) THEN
        RAISE EXCEPTION '"%" cannot have a CNAME and other records', NEW.name
            USING ERRCODE = 'check_violation', HINT = 'A CNAME must be the only record at its name (RFC 2181 10.1).';
    END IF;
    IF NEW.type IN ('A', 'AAAA', 'CNAME') AND EXISTS (SELECT 1 FROM loadns.services s WHERE s.name = NEW.name) THEN
        RAISE EXCEPTION '"%" is a balanced service: it cannot have static % records', NEW.name, NEW.type
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION loadns.services_before_write() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- Writers of one zone take turns, so that the checks below see what the previous one
    -- committed (see above); NEW.zone is set by services_assign_zone, which fires first.
    PERFORM 1 FROM loadns.zones z WHERE z.name = NEW.zone FOR NO KEY UPDATE;
    IF EXISTS (SELECT 1 FROM loadns.records r
                WHERE r.name = NEW.name AND r.type IN ('A', 'AAAA', 'CNAME')) THEN
        RAISE EXCEPTION 'service "%" clashes with static A, AAAA or CNAME records of that name', NEW.name
            USING ERRCODE = 'check_violation', HINT = 'Delete those records from loadns.records first.';
    END IF;
    RETURN NEW;
END
$$;
