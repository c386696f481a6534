-- 0012: the schema accepts exactly what the servers can serve. Each row below passed the
-- checks of 0001-0011 and yet could not be served (the server now leaves such a row out of
-- its snapshot with one log line and loadns_rows_skipped_total; before, it refused the whole
-- snapshot):
--   TXT '"\1"': a backslash and a digit must be three digits (\DDD, RFC 1035 5.1); '"\é"' is
--     two octets, and a string of 128 of them is 256 octets, over the limit of 255;
--   '"\\999"' (an escaped backslash, then 999) was refused as a \DDD above 255; it is valid;
--   the records of one name and type over 65,000 octets (12 per record plus its data): the
--     response does not fit in one DNS message, even over TCP;
--   stale_after '400 microseconds' (0 ms as the server reads it) or '-1 year 361 days'
--     (positive as an interval compares, 360 days a year, negative as seconds, 365.25), and
--     beyond 100 years the milliseconds no longer fit the server's bigint; slow_start alike;
--   a weight of 1e-300 beside one of 1: the balancer's ratio of shares is infinite;
--   reported_at or serving_since at infinity: the server's poll fails computing their age.
-- Rows that already break the new constraints stay (NOT VALID) and the servers leave them
-- out; VALIDATE CONSTRAINT once they are fixed. A clean database validates them here.

-- Why TXT data is invalid, or NULL. Data with a double quote is zone-file form: one or more
-- "quoted strings" in which \DDD (three digits, at most 255) is one octet and \ before any
-- other character is that character, each string at most 255 octets (RFC 1035 3.3, 5.1).
-- Data without a quote is one text, cut into 255-octet strings by the server.
CREATE OR REPLACE FUNCTION loadns.txt_problem(data text) RETURNS text
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

-- records: as before, and the records of one name and type take at most 65,000 octets.
CREATE OR REPLACE FUNCTION loadns.records_before_write() RETURNS trigger
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

-- services: the intervals as the server reads them, in whole milliseconds.
ALTER TABLE loadns.services DROP CONSTRAINT services_stale_after_positive;
ALTER TABLE loadns.services ADD CONSTRAINT services_stale_after_range
    CHECK (round(extract(epoch FROM stale_after) * 1000) BETWEEN 1 AND 3153600000000) NOT VALID;
ALTER TABLE loadns.services DROP CONSTRAINT services_slow_start_range;
ALTER TABLE loadns.services ADD CONSTRAINT services_slow_start_range
    CHECK (round(extract(epoch FROM slow_start) * 1000) BETWEEN 0 AND 3153600000000) NOT VALID;

-- backends: weights whose ratios stay finite; times whose ages can be computed.
ALTER TABLE loadns.backends DROP CONSTRAINT backends_weight_positive;
ALTER TABLE loadns.backends ADD CONSTRAINT backends_weight_range
    CHECK (weight BETWEEN 0.000001 AND 1000000) NOT VALID;
ALTER TABLE loadns.backends ADD CONSTRAINT backends_times_finite
    CHECK (isfinite(reported_at) AND isfinite(serving_since)) NOT VALID;

COMMENT ON COLUMN loadns.services.stale_after IS 'A backend whose agent has not reported for this long is left out (1 ms to 100 years).';
COMMENT ON COLUMN loadns.backends.weight IS 'Relative share when no capacity is known (0.000001 to 1000000).';

DO $validate$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT * FROM (VALUES ('services', 'services_stale_after_range'),
                                   ('services', 'services_slow_start_range'),
                                   ('backends', 'backends_weight_range'),
                                   ('backends', 'backends_times_finite')) v(tab, con) LOOP
        BEGIN
            EXECUTE format('ALTER TABLE loadns.%I VALIDATE CONSTRAINT %I', c.tab, c.con);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'loadns.%: rows break %; servers leave them out until they are fixed (then ALTER TABLE loadns.% VALIDATE CONSTRAINT %)',
                c.tab, c.con, c.tab, c.con;
        END;
    END LOOP;
END
$validate$;
