-- loadns: the full current schema, for reading. The migrations in migrations/ build exactly
-- this (tests/integration/db compares pg_dump --schema-only of both); change both together.
--
-- Operators administer loadns with plain SQL on these objects:
--   zones      one row per zone served authoritatively (SOA fields, NS set)
--   services   one row per balanced name; its zone is found from the name
--   backends   one row per backend of a service; agents register and report via report()
--   records    static A, AAAA, CNAME, TXT and MX records; zone found from the name
--   agent_grants which login may report for which service (loadns.report() checks)
--   backend_status   a view for people: effective state and why, utilisation, report age
-- Names are stored lower case without a trailing dot (DNS matching is case-insensitive,
-- RFC 4343). Changes operators make send NOTIFY loadns_changed; load reports do not.
--
-- Cookbook:
--   INSERT INTO loadns.zones (name, nameservers)
--        VALUES ('example.com', '{ns1.example.com,ns2.example.com}');
--   INSERT INTO loadns.records (name, type, data) VALUES ('ns1.example.com', 'A', '192.0.2.53');
--   INSERT INTO loadns.services (name) VALUES ('api.example.com');   -- zone found from the name
--   INSERT INTO loadns.backends (service, name, address)              -- a backend without agent
--        VALUES ('api.example.com', 'web1', '192.0.2.10');
--   UPDATE loadns.backends SET enabled = false WHERE name = 'web1';   -- take out of rotation
--   UPDATE loadns.backends SET draining = true WHERE name = 'web1';   -- no new clients
--   UPDATE loadns.backends SET capacity = 5000 WHERE name = 'web1';   -- overrides --capacity
--   UPDATE loadns.services SET ttl = 10, answers = 2 WHERE name = 'api.example.com';
--   SELECT * FROM loadns.backend_status ORDER BY service, name;       -- who is served, and why
--   CREATE ROLE agent_web1 LOGIN PASSWORD '...' IN ROLE loadns_agent; -- one per backend host
--   INSERT INTO loadns.agent_grants (login, service)                  -- what it may report for
--        VALUES ('agent_web1', 'api.example.com');
--   CREATE ROLE server LOGIN PASSWORD '...' IN ROLE loadns_server;    -- for loadns-server

CREATE SCHEMA IF NOT EXISTS loadns;

COMMENT ON SCHEMA loadns IS 'loadns: load-aware authoritative DNS balancer (zones, services, backends, records)';

-- Applied migrations; written by `loadns-server migrate`.
CREATE TABLE IF NOT EXISTS loadns.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone NOT NULL DEFAULT now()
);

-- Roles are cluster-wide, so they are created only when missing (and two databases migrated
-- at once may race: the loser's duplicate is ignored). NOLOGIN groups: grant them to login
-- roles, e.g. CREATE ROLE agent LOGIN IN ROLE loadns_agent.
-- Checked first, so that a migrating role without CREATEROLE works once an administrator
-- has created them.
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['loadns_agent', 'loadns_server'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$roles$;

------------------------------------------------------------------------------------------
-- Helpers: name and record data checks, zone lookup, SOA serials.
------------------------------------------------------------------------------------------

-- Why `name` is not a valid DNS name as loadns stores them, or NULL when it is: lower case,
-- no trailing dot, labels of 1..63 letters, digits, '-' or '_', at most 253 characters
-- (255 octets on the wire, RFC 1035 2.3.4).
CREATE FUNCTION loadns.name_problem(name text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    label text;
BEGIN
    IF name IS NULL OR name = '' THEN
        RETURN 'is empty';
    END IF;
    IF name <> lower(name) THEN
        RETURN 'must be lower case';
    END IF;
    IF right(name, 1) = '.' THEN
        RETURN 'must not end with a dot';
    END IF;
    IF octet_length(name) > 253 THEN
        RETURN 'is longer than 253 characters';
    END IF;
    FOREACH label IN ARRAY string_to_array(name, '.') LOOP
        IF label = '' THEN
            RETURN 'has an empty label';
        END IF;
        IF octet_length(label) > 63 THEN
            RETURN format('has a label longer than 63 characters (%s)', label);
        END IF;
        IF label !~ '^[a-z0-9_-]+$' THEN
            RETURN format('has a label with characters other than letters, digits, - and _ (%s)', label);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Why one of `names` is invalid (see name_problem), or NULL when all are valid.
CREATE FUNCTION loadns.names_problem(names text[]) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n text;
    problem text;
BEGIN
    FOREACH n IN ARRAY names LOOP
        problem := loadns.name_problem(n);
        IF problem IS NOT NULL THEN
            RETURN format('"%s" %s', n, problem);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Is `name` the zone apex or below it? Compared by labels, so "xexample.com" is not in
-- "example.com".
CREATE FUNCTION loadns.name_in_zone(name text, zone text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ((name = zone) OR ("right"(name, (length(zone) + 1)) = ('.'::text || zone)));

-- The longest zone that contains `name`, or NULL. Walks the name's suffixes, so it costs one
-- primary key probe per label whatever the number of zones.
CREATE FUNCTION loadns.enclosing_zone(name text) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    candidate text := name;
    dot integer;
BEGIN
    LOOP
        IF EXISTS (SELECT 1 FROM loadns.zones z WHERE z.name = candidate) THEN
            RETURN candidate;
        END IF;
        dot := strpos(candidate, '.');
        IF dot = 0 THEN
            RETURN NULL;
        END IF;
        candidate := substr(candidate, dot + 1);
    END LOOP;
END
$$;

-- Why TXT data is invalid, or NULL. Data with a double quote is zone-file form: one or more
-- "quoted strings" in which \DDD (three digits, at most 255) is one octet and \ before any
-- other character is that character, each string at most 255 octets (RFC 1035 3.3, 5.1).
-- Data without a quote is one text, cut into 255-octet strings by the server.
CREATE FUNCTION loadns.txt_problem(data text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    part text[];
    escape text[];
BEGIN
    IF strpos(data, '"') = 0 THEN
        RETURN NULL;
    END IF;
    IF data !~ '^[ \t]*("([^"\\]|\\[0-9]{3}|\\[^0-9])*"[ \t]*)+$' THEN
        RETURN 'has a quote but is not a sequence of "quoted strings" (\ escapes one character; \ and a digit must be three digits, \DDD)';
    END IF;
    FOR escape IN SELECT regexp_matches(data, '\\([0-9]{3}|.)', 'g') LOOP
        IF escape[1] ~ '^[0-9]{3}$' AND escape[1]::integer > 255 THEN
            RETURN 'has a \DDD escape above 255';
        END IF;
    END LOOP;
    FOR part IN SELECT regexp_matches(data, '"((?:[^"\\]|\\.)*)"', 'g') LOOP
        IF loadns.txt_string_octets(part[1]) > 255 THEN
            RETURN 'has a quoted string longer than 255 octets';
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- The octets of one quoted TXT string's content (without its quotes), escapes decoded.
CREATE FUNCTION loadns.txt_string_octets(content text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (octet_length(regexp_replace(content, '\\([0-9]{3}|.)', '\1', 'g')) - (2 * (SELECT count(*) AS count FROM regexp_matches(content, '\\([0-9]{3}|.)', 'g') m(m) WHERE (m.m[1] ~ '^[0-9]{3}$'))));

-- The length of the RDATA the server makes of valid `data` of `type` (RFC 1035 3.3).
CREATE FUNCTION loadns.rdata_octets(type text, data text) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    text_octets bigint;
    total bigint := 0;
    part text[];
BEGIN
    CASE type
        WHEN 'A' THEN
            RETURN 4;
        WHEN 'AAAA' THEN
            RETURN 16;
        WHEN 'CNAME' THEN
            RETURN octet_length(rtrim(btrim(data, E' \t'), '.')) + 2;
        WHEN 'MX' THEN
            RETURN 2 + octet_length(rtrim((regexp_match(data, '^[0-9]+[ \t]+([^ \t]+)'))[1], '.')) + 2;
        WHEN 'TXT' THEN
            IF strpos(data, '"') = 0 THEN
                text_octets := octet_length(btrim(data, E' \t'));
                RETURN text_octets + greatest(1, ceil(text_octets / 255.0)::bigint);
            END IF;
            FOR part IN SELECT regexp_matches(data, '"((?:[^"\\]|\\.)*)"', 'g') LOOP
                total := total + 1 + loadns.txt_string_octets(part[1]);
            END LOOP;
            RETURN total;
        ELSE
            RETURN 0;
    END CASE;
END
$$;

-- Why `data` is not valid presentation-form data for a record of `type`, or NULL.
CREATE FUNCTION loadns.record_data_problem(type text, data text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    addr inet;
    mx text[];
    problem text;
BEGIN
    IF data IS NULL OR data = '' THEN
        RETURN 'is empty';
    END IF;
    CASE type
        WHEN 'A', 'AAAA' THEN
            BEGIN
                addr := data::inet;
            EXCEPTION WHEN invalid_text_representation THEN
                RETURN 'is not an IP address';
            END;
            IF type = 'A' AND family(addr) <> 4 THEN
                RETURN 'is not an IPv4 address';
            END IF;
            IF type = 'AAAA' AND family(addr) <> 6 THEN
                RETURN 'is not an IPv6 address';
            END IF;
            IF masklen(addr) <> (CASE type WHEN 'A' THEN 32 ELSE 128 END) THEN
                RETURN 'must be one address, without a prefix length';
            END IF;
        WHEN 'CNAME' THEN
            problem := loadns.name_problem(data);
            IF problem IS NOT NULL THEN
                RETURN 'target ' || problem;
            END IF;
        WHEN 'MX' THEN
            mx := regexp_match(data, '^([0-9]{1,5}) +([^ ]+)$');
            IF mx IS NULL THEN
                RETURN 'must be "preference host", e.g. "10 mail.example.com"';
            END IF;
            IF mx[1]::integer > 65535 THEN
                RETURN 'preference must be 0..65535';
            END IF;
            problem := loadns.name_problem(mx[2]);
            IF problem IS NOT NULL THEN
                RETURN 'host ' || problem;
            END IF;
        WHEN 'TXT' THEN
            RETURN loadns.txt_problem(data);
        ELSE
            RETURN format('has unsupported type %s', type);
    END CASE;
    RETURN NULL;
END
$$;

-- The serial after `serial`: today's date as YYYYMMDD00 when that is ahead, else serial + 1
-- modulo 2^32. Either is "greater" in RFC 1982 serial arithmetic (an increment below 2^31),
-- so secondaries and caches always see the change.
CREATE FUNCTION loadns.next_serial(serial bigint) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (SELECT CASE WHEN ((d.today > serial) AND ((d.today - serial) < 2147483648)) THEN d.today ELSE ((serial + 1) % 4294967296) END FROM (SELECT ((to_char(timezone('UTC'::text, now()), 'YYYYMMDD'::text))::bigint * 100) AS today) d);

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
-- Tables
------------------------------------------------------------------------------------------

CREATE TABLE loadns.zones (
    name text PRIMARY KEY,
    mname text NOT NULL,
    rname text NOT NULL,
    serial bigint NOT NULL DEFAULT loadns.next_serial(0),
    refresh integer NOT NULL DEFAULT 3600,
    retry integer NOT NULL DEFAULT 600,
    expire integer NOT NULL DEFAULT 1209600,
    minimum integer NOT NULL DEFAULT 60,
    ttl integer NOT NULL DEFAULT 3600,
    nameservers text[] NOT NULL,
    CONSTRAINT zones_name_lower_case CHECK (name = lower(name)),
    CONSTRAINT zones_name_no_trailing_dot CHECK (right(name, 1) <> '.'),
    CONSTRAINT zones_name_valid CHECK (loadns.name_problem(name) IS NULL),
    CONSTRAINT zones_soa_mname_valid CHECK (loadns.name_problem(mname) IS NULL),
    CONSTRAINT zones_soa_rname_valid CHECK (loadns.name_problem(rname) IS NULL),
    CONSTRAINT zones_nameservers_not_empty CHECK (cardinality(nameservers) >= 1),
    CONSTRAINT zones_nameservers_valid CHECK (loadns.names_problem(nameservers) IS NULL),
    CONSTRAINT zones_serial_range CHECK (serial BETWEEN 0 AND 4294967295),
    CONSTRAINT zones_ttl_range CHECK (ttl >= 0),
    CONSTRAINT zones_timers_range CHECK (refresh >= 0 AND retry >= 0 AND expire >= 0 AND minimum >= 0)
);

COMMENT ON TABLE loadns.zones IS 'Zones served authoritatively. mname defaults to the first nameserver, rname to hostmaster.<zone>; serial is bumped automatically.';
COMMENT ON COLUMN loadns.zones.nameservers IS 'The NS set at the apex (at least one name).';
COMMENT ON COLUMN loadns.zones.ttl IS 'TTL of the SOA and NS records.';
COMMENT ON COLUMN loadns.zones.serial IS 'SOA serial: YYYYMMDDnn, bumped when the zone, its records or its services change (RFC 1982).';

CREATE TABLE loadns.services (
    name text PRIMARY KEY,
    zone text NOT NULL REFERENCES loadns.zones (name),
    ttl integer NOT NULL DEFAULT 60,
    answers integer NOT NULL DEFAULT 1,
    accept_nonce boolean NOT NULL DEFAULT true,
    stale_after interval NOT NULL DEFAULT '00:00:10'::interval,
    policy text NOT NULL DEFAULT 'least_load',
    min_serving integer NOT NULL DEFAULT 1,
    on_empty text NOT NULL DEFAULT 'fail_open',
    agent_networks cidr[] DEFAULT NULL,
    slow_start interval NOT NULL DEFAULT '00:00:00'::interval,
    rebalance boolean NOT NULL DEFAULT false,
    shed_rate integer NOT NULL DEFAULT 50,
    CONSTRAINT services_name_lower_case CHECK (name = lower(name)),
    CONSTRAINT services_name_no_trailing_dot CHECK (right(name, 1) <> '.'),
    CONSTRAINT services_name_valid CHECK (loadns.name_problem(name) IS NULL),
    CONSTRAINT services_name_inside_zone CHECK (loadns.name_in_zone(name, zone)),
    CONSTRAINT services_ttl_range CHECK (ttl >= 0),
    CONSTRAINT services_answers_range CHECK (answers BETWEEN 1 AND 64),
    CONSTRAINT services_stale_after_range CHECK (round(extract(epoch FROM stale_after) * 1000) BETWEEN 1 AND 3153600000000),
    CONSTRAINT services_policy_known CHECK (policy IN ('least_load', 'least_connections', 'round_robin', 'random')),
    CONSTRAINT services_min_serving_range CHECK (min_serving >= 0),
    CONSTRAINT services_on_empty_known CHECK (on_empty IN ('fail_open', 'nodata', 'servfail')),
    CONSTRAINT services_agent_networks_no_null CHECK (array_position(agent_networks, NULL) IS NULL),
    CONSTRAINT services_slow_start_range CHECK (round(extract(epoch FROM slow_start) * 1000) BETWEEN 0 AND 3153600000000),
    CONSTRAINT services_shed_rate_positive CHECK (shed_rate > 0)
);

CREATE INDEX services_zone_idx ON loadns.services (zone);

COMMENT ON TABLE loadns.services IS 'Balanced names. The zone is found from the name (the longest enclosing zone).';
COMMENT ON COLUMN loadns.services.answers IS 'Address records per response (1..64).';
COMMENT ON COLUMN loadns.services.stale_after IS 'A backend whose agent has not reported for this long is left out (1 ms to 100 years).';
COMMENT ON COLUMN loadns.services.policy IS 'least_load (default), least_connections, round_robin or random.';
COMMENT ON COLUMN loadns.services.min_serving IS 'When fewer backends of the queried family are serving, on_empty applies (0: never).';
COMMENT ON COLUMN loadns.services.on_empty IS 'fail_open (answer from all enabled backends), nodata (NOERROR, SOA in authority) or servfail.';
COMMENT ON COLUMN loadns.services.agent_networks IS 'When set, an agent''s addresses must lie inside one of these networks (loopback and link-local only when listed); NULL = any public address.';
COMMENT ON COLUMN loadns.services.slow_start IS 'A backend entering service (see backends.serving_since) counts with capacity x max(0.1, t / slow_start) until t = slow_start; 0 = off.';
COMMENT ON COLUMN loadns.services.rebalance IS 'When on, report() returns how many connections a backend holds above its share (at most shed_rate per second).';
COMMENT ON COLUMN loadns.services.shed_rate IS 'Most connections per second report() asks one backend to shed when rebalance is on.';

CREATE TABLE loadns.backends (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    service text NOT NULL REFERENCES loadns.services (name) ON UPDATE CASCADE ON DELETE CASCADE,
    name text NOT NULL,
    address inet NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    draining boolean NOT NULL DEFAULT false,
    agent_draining boolean NOT NULL DEFAULT false,
    capacity bigint,
    agent_capacity bigint,
    weight double precision NOT NULL DEFAULT 1,
    connections bigint NOT NULL DEFAULT 0,
    reported_at timestamp with time zone,
    agent_healthy boolean,
    agent_check text,
    registered_by name,
    second_address inet,
    serving_since timestamp with time zone DEFAULT now(),
    shed_pending bigint NOT NULL DEFAULT 0,
    shed_since timestamp with time zone,
    CONSTRAINT backends_service_name_unique UNIQUE (service, name),
    CONSTRAINT backends_name_valid CHECK (name <> '' AND length(name) <= 255 AND name !~ '[[:cntrl:]]'),
    CONSTRAINT backends_address_single_host CHECK (masklen(address) = CASE family(address) WHEN 4 THEN 32 ELSE 128 END),
    CONSTRAINT backends_capacity_positive CHECK (capacity > 0),
    CONSTRAINT backends_agent_capacity_positive CHECK (agent_capacity > 0),
    CONSTRAINT backends_weight_range CHECK (weight BETWEEN 0.000001 AND 1000000),
    CONSTRAINT backends_times_finite CHECK (isfinite(reported_at) AND isfinite(serving_since)),
    CONSTRAINT backends_connections_not_negative CHECK (connections >= 0),
    CONSTRAINT backends_second_address_single_host CHECK (masklen(second_address) = CASE family(second_address) WHEN 4 THEN 32 ELSE 128 END),
    CONSTRAINT backends_second_address_other_family CHECK (family(second_address) <> family(address)),
    CONSTRAINT backends_shed_pending_not_negative CHECK (shed_pending >= 0)
)
-- Every agent rewrites its row every couple of seconds: room on each page lets those updates
-- stay heap-only (HOT, no index writes) since no indexed column changes.
WITH (fillfactor = 70);

COMMENT ON TABLE loadns.backends IS 'Backends of a service. Agents register and update them through loadns.report(); operators set enabled, draining, capacity and weight.';
COMMENT ON COLUMN loadns.backends.name IS 'The agent''s identity (default its host name), unique within the service.';
COMMENT ON COLUMN loadns.backends.draining IS 'Set by an operator: no new answers go to this backend. Effective draining = draining OR agent_draining.';
COMMENT ON COLUMN loadns.backends.agent_draining IS 'Set by the agent''s report (true when it shuts down); never overrides draining.';
COMMENT ON COLUMN loadns.backends.weight IS 'Relative share when no capacity is known (0.000001 to 1000000).';
COMMENT ON COLUMN loadns.backends.capacity IS 'Operator''s connection limit; overrides agent_capacity. Effective capacity = coalesce(capacity, agent_capacity); NULL = equal share by weight.';
COMMENT ON COLUMN loadns.backends.agent_capacity IS 'The capacity the agent reports (--capacity); never overrides capacity.';
COMMENT ON COLUMN loadns.backends.reported_at IS 'Time of the last agent report (database clock); NULL for a backend inserted by SQL with no agent.';
COMMENT ON COLUMN loadns.backends.agent_healthy IS 'The agent''s judgement of its service (report(healthy)); false = left out like a draining backend; NULL = no agent reported health.';
COMMENT ON COLUMN loadns.backends.agent_check IS 'The agent''s words for its last failed check (e.g. listen: nothing listens on port 8080); NULL when healthy.';
COMMENT ON COLUMN loadns.backends.registered_by IS 'The login whose report created the row; NULL = an operator''s row. An operator sets it to hand a row to an agent''s login.';
COMMENT ON COLUMN loadns.backends.second_address IS 'A dual-stack host''s address of the other family (A and AAAA answers both name this row, one load unit); NULL if none.';
COMMENT ON COLUMN loadns.backends.serving_since IS 'When the backend last entered service (first report, enabled again, undrained, healthy again, back from stale); slow start ramps from it.';
COMMENT ON COLUMN loadns.backends.shed_pending IS 'Connections report() told this backend to shed since shed_since, counted as on their way to other backends until answers cover them (rebalance only).';
COMMENT ON COLUMN loadns.backends.shed_since IS 'When report() first told this backend to shed the connections of shed_pending.';

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

CREATE TABLE loadns.records (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    zone text NOT NULL REFERENCES loadns.zones (name),
    type text NOT NULL,
    ttl integer NOT NULL DEFAULT 3600,
    data text NOT NULL,
    CONSTRAINT records_rrset_no_duplicates UNIQUE (name, type, data),
    CONSTRAINT records_name_lower_case CHECK (name = lower(name)),
    CONSTRAINT records_name_no_trailing_dot CHECK (right(name, 1) <> '.'),
    CONSTRAINT records_name_valid CHECK (loadns.name_problem(name) IS NULL),
    CONSTRAINT records_name_inside_zone CHECK (loadns.name_in_zone(name, zone)),
    CONSTRAINT records_type_supported CHECK (type IN ('A', 'AAAA', 'CNAME', 'TXT', 'MX')),
    CONSTRAINT records_ttl_range CHECK (ttl >= 0),
    CONSTRAINT records_data_valid CHECK (loadns.record_data_problem(type, data) IS NULL)
);

CREATE INDEX records_zone_idx ON loadns.records (zone);

COMMENT ON TABLE loadns.records IS 'Static records (A, AAAA, CNAME, TXT, MX) in presentation form; the zone is found from the name.';

------------------------------------------------------------------------------------------
-- Triggers: defaults, zone assignment, record checks, serials, change notification.
------------------------------------------------------------------------------------------

-- zones: mname defaults to the first nameserver, rname to hostmaster.<zone>; an operator
-- change to anything but the serial bumps the serial.
CREATE FUNCTION loadns.zones_before_write() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- (the zone name stands in when there is no NS set, so that the row is refused by
        -- zones_nameservers_not_empty rather than by a confusing NULL mname)
        NEW.mname := coalesce(NEW.mname, NEW.nameservers[1], NEW.name);
        NEW.rname := coalesce(NEW.rname, 'hostmaster.' || NEW.name);
    ELSIF NEW.serial = OLD.serial AND NEW IS DISTINCT FROM OLD THEN
        NEW.serial := loadns.next_serial(OLD.serial);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER zones_before_write BEFORE INSERT OR UPDATE ON loadns.zones
    FOR EACH ROW EXECUTE FUNCTION loadns.zones_before_write();

-- A new zone inside an existing one takes over the services and records below its apex
-- (the longest enclosing zone is always the one that answers).
CREATE FUNCTION loadns.zones_after_insert() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE loadns.services s SET zone = NEW.name
     WHERE loadns.name_in_zone(s.name, NEW.name) AND s.zone <> NEW.name
       AND loadns.name_in_zone(NEW.name, s.zone);
    UPDATE loadns.records r SET zone = NEW.name
     WHERE loadns.name_in_zone(r.name, NEW.name) AND r.zone <> NEW.name
       AND loadns.name_in_zone(NEW.name, r.zone);
    RETURN NULL;
END
$$;

CREATE TRIGGER zones_after_insert AFTER INSERT ON loadns.zones
    FOR EACH ROW EXECUTE FUNCTION loadns.zones_after_insert();

-- services and records: the zone is the longest zone that contains the name. An explicit zone
-- must be that one.
CREATE FUNCTION loadns.assign_zone() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    kind text := CASE TG_TABLE_NAME WHEN 'services' THEN 'service' ELSE 'record' END;
    found_zone text;
    explicit boolean;
BEGIN
    IF NEW.name IS NULL THEN
        RETURN NEW;  -- NOT NULL says so
    END IF;
    IF loadns.name_problem(NEW.name) IS NOT NULL THEN
        RAISE EXCEPTION '% name "%" %', kind, NEW.name, loadns.name_problem(NEW.name)
            USING ERRCODE = 'check_violation', CONSTRAINT = TG_TABLE_NAME || '_name_valid';
    END IF;
    found_zone := loadns.enclosing_zone(NEW.name);
    explicit := NEW.zone IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.zone IS DISTINCT FROM OLD.zone);
    IF found_zone IS NULL THEN
        RAISE EXCEPTION '% "%" is in no zone', kind, NEW.name
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Insert the zone that contains it into loadns.zones first.';
    END IF;
    IF explicit AND NEW.zone <> found_zone THEN
        IF NOT loadns.name_in_zone(NEW.name, NEW.zone) THEN
            RAISE EXCEPTION '% "%" is outside its zone "%"', kind, NEW.name, NEW.zone
                USING ERRCODE = 'check_violation',
                      HINT = format('Leave zone out: it is found from the name (here "%s").', found_zone);
        END IF;
        RAISE EXCEPTION '% "%" belongs to zone "%", the longest zone that contains it, not "%"',
                        kind, NEW.name, found_zone, NEW.zone
            USING ERRCODE = 'check_violation',
                  HINT = 'Leave zone out: it is found from the name.';
    END IF;
    NEW.zone := found_zone;
    RETURN NEW;
END
$$;

CREATE TRIGGER services_assign_zone BEFORE INSERT OR UPDATE OF name, zone ON loadns.services
    FOR EACH ROW EXECUTE FUNCTION loadns.assign_zone();

CREATE TRIGGER records_assign_zone BEFORE INSERT OR UPDATE OF name, zone ON loadns.records
    FOR EACH ROW EXECUTE FUNCTION loadns.assign_zone();

-- records: type upper-cased, data checked with a message that says what is wrong and stored
-- in one canonical form (addresses as PostgreSQL prints them, names lower case without a
-- trailing dot). A CNAME owns its name alone (RFC 1034 3.6.2, RFC 2181 10.1) and a balanced
-- service's name has no static address records.
-- Concurrent writers: these checks read other rows of the name, so each writer first locks
-- its zone's row (FOR NO KEY UPDATE, held until commit like the serial bump's update) and
-- checks once the previous writer of that zone has committed. Under READ COMMITTED the check
-- then sees that writer's rows; under REPEATABLE READ and SERIALIZABLE taking the lock fails
-- with serialization_failure (40001) if that writer committed after the snapshot: retry.
CREATE FUNCTION loadns.records_before_write() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problem text;
    rrset_octets bigint;
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
    -- 12 octets per record (a compressed owner, type, class, TTL, data length) plus its data:
    -- with the header, the longest question and EDNS that fits one 65,535-octet message.
    SELECT coalesce(sum(12 + loadns.rdata_octets(r.type, r.data)), 0) INTO rrset_octets
      FROM loadns.records r
     WHERE r.name = NEW.name AND r.type = NEW.type AND r.id <> NEW.id;
    rrset_octets := rrset_octets + 12 + loadns.rdata_octets(NEW.type, NEW.data);
    IF rrset_octets > 65000 THEN
        RAISE EXCEPTION 'the % records of "%" would take % octets, more than 65000 (12 per record plus its data)', NEW.type, NEW.name, rrset_octets
            USING ERRCODE = 'check_violation',
                  HINT = 'A response carries all records of a name and type, and a DNS message is at most 65,535 octets.';
    END IF;
    RETURN NEW;
END
$$;

-- Named to fire after records_assign_zone (triggers fire in name order): NEW.zone is set.
CREATE TRIGGER records_check_data BEFORE INSERT OR UPDATE ON loadns.records
    FOR EACH ROW EXECUTE FUNCTION loadns.records_before_write();

-- services: a balanced name cannot also be a static address or CNAME. Concurrent writers
-- take turns on the zone's row, as in records_before_write.
CREATE FUNCTION loadns.services_before_write() RETURNS trigger
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

CREATE TRIGGER services_check_records BEFORE INSERT OR UPDATE OF name ON loadns.services
    FOR EACH ROW EXECUTE FUNCTION loadns.services_before_write();

-- SOA serial of the zones whose services or records a statement changed: bumped once per
-- statement (not per row).
CREATE FUNCTION loadns.bump_zone_serials() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE loadns.zones z SET serial = loadns.next_serial(z.serial)
         WHERE z.name IN (SELECT n.zone FROM new_rows n);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE loadns.zones z SET serial = loadns.next_serial(z.serial)
         WHERE z.name IN (SELECT n.zone FROM new_rows n UNION SELECT o.zone FROM old_rows o);
    ELSE
        UPDATE loadns.zones z SET serial = loadns.next_serial(z.serial)
         WHERE z.name IN (SELECT o.zone FROM old_rows o);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER services_serial_insert AFTER INSERT ON loadns.services
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.bump_zone_serials();
CREATE TRIGGER services_serial_update AFTER UPDATE ON loadns.services
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.bump_zone_serials();
CREATE TRIGGER services_serial_delete AFTER DELETE ON loadns.services
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.bump_zone_serials();
CREATE TRIGGER records_serial_insert AFTER INSERT ON loadns.records
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.bump_zone_serials();
CREATE TRIGGER records_serial_update AFTER UPDATE ON loadns.records
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.bump_zone_serials();
CREATE TRIGGER records_serial_delete AFTER DELETE ON loadns.records
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION loadns.bump_zone_serials();

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
CREATE TRIGGER backends_notify_update AFTER UPDATE ON loadns.backends
    FOR EACH ROW
    WHEN ((old.service, old.name, old.address, old.second_address, old.enabled, old.draining, old.agent_draining, old.agent_healthy, old.capacity, old.weight, old.serving_since)
          IS DISTINCT FROM (new.service, new.name, new.address, new.second_address, new.enabled, new.draining, new.agent_draining, new.agent_healthy, new.capacity, new.weight, new.serving_since))
    EXECUTE FUNCTION loadns.notify_changed();

------------------------------------------------------------------------------------------
-- The agent's one call
------------------------------------------------------------------------------------------

-- Rebalancing (services.rebalance): report() returns how many connections the reporting
-- backend holds above its share of the service. Share: over the backends in service
-- (enabled, not draining, healthy, not stale; full ones too), its capacity times the
-- service's utilisation U = connections / sum(capacities); a backend without a capacity
-- counts with the mean capacity of those that have one (1 when none has) times its weight.
-- The connections count those in the reports, those answered since by any server
-- (shared_answers, as the servers predict loads) and those shed but not answered yet
-- (shed_pending): connections moving between backends are in no report for a while. A
-- backend entering service counts in another's shares from that one's next report on (the
-- servers need a moment to answer with it). Another backend in slow start counts with its
-- capacity times its ramp, as the servers count it; the reporting backend's own in full.
-- Only above 1.05 x its share, then down to its share; at most shed_rate x the seconds since
-- its previous report (at most stale_after's worth); nothing on a first report. A draining
-- backend sheds everything at shed_rate.

-- The connections to shed of a backend holding `connections` whose share is `share`
-- connections, with at most `cap` this time (pure, for tests).
CREATE FUNCTION loadns.shed_count(connections bigint, share double precision, cap bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN ((cap > 0) AND ((connections)::double precision > (1.05::double precision * share))) THEN LEAST((floor(((connections)::double precision - share)))::bigint, cap)
        ELSE (0)::bigint
    END;

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
CREATE FUNCTION loadns.connections_to_shed(backend_id bigint, previous_report timestamp with time zone) RETURNS bigint
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
CREATE FUNCTION loadns.report(service text, name text, address inet, connections bigint, capacity bigint DEFAULT NULL::bigint, draining boolean DEFAULT false, healthy boolean DEFAULT true, check_detail text DEFAULT NULL::text, second_address inet DEFAULT NULL::inet) RETURNS bigint
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

COMMENT ON FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean, boolean, text, inet) IS 'The agent''s report: registers the backend on first call, then updates only what the agent knows; returns the connections to shed.';

------------------------------------------------------------------------------------------
-- For people
------------------------------------------------------------------------------------------

-- Each backend's effective state as the servers judge it, in precedence order: disabled,
-- draining, stale (an agent reported once but not within the service's stale_after),
-- unhealthy (its agent says its service fails a check), full (connections >= effective
-- capacity), else serving; reason says why in words (NULL when serving). utilisation =
-- connections / effective capacity.
CREATE VIEW loadns.backend_status AS
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

------------------------------------------------------------------------------------------
-- Privileges: agents only report, servers only read, operators own everything.
------------------------------------------------------------------------------------------

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA loadns FROM PUBLIC;
-- Functions created later (by the migrating role, in this database) too: PostgreSQL's default
-- lets PUBLIC execute them. Per-schema defaults can only add to the global ones.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

GRANT USAGE ON SCHEMA loadns TO loadns_agent, loadns_server;
GRANT EXECUTE ON FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean, boolean, text, inet) TO loadns_agent;
GRANT SELECT ON loadns.zones, loadns.services, loadns.backends, loadns.records,
    loadns.backend_status, loadns.schema_migrations TO loadns_server;

------------------------------------------------------------------------------------------
-- shared_answers: answer counts shared by every nameserver (migration 0008). Each
-- loadns-server writes the answers it gave each backend per flush period (at most 4 a
-- second) and reads the others', so that least_load counts every server's answers since a
-- backend's report. Rows age out after 30 s (60 s for a server that stopped).
------------------------------------------------------------------------------------------

CREATE TABLE loadns.shared_answers (
    server text NOT NULL,
    flush bigint NOT NULL,
    backend_id bigint NOT NULL,
    answers integer NOT NULL,
    flushed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT shared_answers_pkey PRIMARY KEY (server, flush, backend_id),
    CONSTRAINT shared_answers_answers_positive CHECK ((answers > 0)),
    CONSTRAINT shared_answers_flush_positive CHECK ((flush > 0))
);

CREATE INDEX shared_answers_flushed_at ON loadns.shared_answers USING btree (flushed_at);

COMMENT ON TABLE loadns.shared_answers IS 'Answers each loadns-server gave each backend per flush period (written by loadns_server only), so that every server predicts load with every server''s answers.';
COMMENT ON COLUMN loadns.shared_answers.server IS 'The writing server: host name and a random id per process.';
COMMENT ON COLUMN loadns.shared_answers.flush IS 'The writer''s flush number, increasing; readers ask for newer ones.';
COMMENT ON COLUMN loadns.shared_answers.backend_id IS 'loadns.backends.id (no foreign key: a deleted backend''s rows age out).';
COMMENT ON COLUMN loadns.shared_answers.answers IS 'Answers given to the backend in the flush period that ended at flushed_at.';
COMMENT ON COLUMN loadns.shared_answers.flushed_at IS 'End of the flush period, on the database''s clock.';

GRANT SELECT, INSERT, DELETE ON loadns.shared_answers TO loadns_server;
