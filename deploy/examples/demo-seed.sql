-- The demo zone: example.com served by ns1.example.com (with its glue address), and the
-- balanced name api.example.com, which each of the agent logins may report for. Backends
-- register themselves when their agents first report. Run after demo-roles.sql and
-- `loadns-server migrate`, as the schema owner (loadns_owner). Idempotent.
--   psql "$LOADNS_DB" -v ON_ERROR_STOP=1 -v ns1_address=192.0.2.53 \
--        -v agents=agent_web1,agent_web2 -v agent_networks='{192.0.2.0/24}' -f demo-seed.sql
-- agent_networks: where the backends' addresses may lie; loopback addresses (scripts/demo's
-- 127.0.0.2-4) are accepted from agents only when it lists them.

INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}')
    ON CONFLICT DO NOTHING;
INSERT INTO loadns.records (name, type, ttl, data)
    VALUES ('ns1.example.com', 'A', 3600, :'ns1_address')
    ON CONFLICT DO NOTHING;
INSERT INTO loadns.services (name, agent_networks) VALUES ('api.example.com', :'agent_networks')
    ON CONFLICT (name) DO UPDATE SET agent_networks = excluded.agent_networks;

-- One login per backend host, each allowed to report for this service only.
INSERT INTO loadns.agent_grants (login, service)
    SELECT a, 'api.example.com' FROM unnest(string_to_array(:'agents', ',')) a
    ON CONFLICT DO NOTHING;
