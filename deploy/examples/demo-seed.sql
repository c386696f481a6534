-- The demo zone: example.com served by ns1.example.com (with its glue address), and the
-- balanced name api.example.com. Backends register themselves when their agents first
-- report. Also creates the login roles the server and the agents use.
-- Idempotent. Run after `loadns-server migrate`, as the schema owner:
--   psql "$LOADNS_DB" -v ON_ERROR_STOP=1 -v ns1_address=192.0.2.53 \
--        -v agent_password=... -v server_password=... -f demo-seed.sql
-- (scripts/demo uses trust authentication; docker-compose passes passwords.)

-- Login roles holding only the product's group roles: agents may only call loadns.report(),
-- servers may only read (SPEC section 3). format(%L) quotes the passwords.
SELECT format('CREATE ROLE agent LOGIN PASSWORD %L IN ROLE loadns_agent', :'agent_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agent') \gexec
SELECT format('CREATE ROLE server LOGIN PASSWORD %L IN ROLE loadns_server', :'server_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'server') \gexec

INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}')
    ON CONFLICT DO NOTHING;
INSERT INTO loadns.records (name, type, ttl, data)
    VALUES ('ns1.example.com', 'A', 3600, :'ns1_address')
    ON CONFLICT DO NOTHING;
INSERT INTO loadns.services (name) VALUES ('api.example.com')
    ON CONFLICT DO NOTHING;
