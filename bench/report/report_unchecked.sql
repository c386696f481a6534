-- The same report through report() as migration 0005 left it (no caller checks), created
-- by bench/report/run beside the real one as loadns.report_unchecked.
\set i random(1, :backends)
\set c random(0, 1000)
SELECT loadns.report_unchecked('api.example.com', 'b' || (:i)::text, '192.0.2.10'::inet, (:c)::bigint, 1000::bigint, false);
