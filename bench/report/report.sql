-- One agent report, as loadns-agent sends it (six arguments, a prepared statement): a random
-- backend of the service, a random load. pgbench -D backends=N sets the number of backends.
\set i random(1, :backends)
\set c random(0, 1000)
SELECT loadns.report('api.example.com', 'b' || (:i)::text, '192.0.2.10'::inet, (:c)::bigint, 1000::bigint, false);
