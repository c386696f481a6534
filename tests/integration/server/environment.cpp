#include "tests/integration/server/environment.hpp"

#include <doctest/doctest.h>

#include <chrono>

namespace loadns::test::e2e {

// Negative TTLs differ on purpose: example.com has SOA ttl 3600 > minimum 300, example.net
// has ttl 120 < minimum 600, so min(ttl, minimum) (RFC 2308 3) is checked both ways.
const char* const seed_sql = R"sql(
INSERT INTO loadns.zones (name, mname, rname, refresh, retry, expire, minimum, ttl, nameservers)
VALUES ('example.com', 'ns1.example.com', 'hostmaster.example.com', 7200, 3600, 1209600, 300,
        3600, ARRAY['ns1.example.com', 'ns2.example.com']),
       ('example.net', 'ns1.example.com', 'hostmaster.example.net', 7200, 3600, 1209600, 600,
        120, ARRAY['ns1.example.com']);

INSERT INTO loadns.services (name) VALUES ('api.example.com');
INSERT INTO loadns.services (name, ttl) VALUES ('dual.example.com', 30);
INSERT INTO loadns.services (name) VALUES ('api.eu.example.com');
INSERT INTO loadns.services (name, answers) VALUES ('big.example.com', 40);
INSERT INTO loadns.services (name, accept_nonce) VALUES ('strict.example.com', false);
INSERT INTO loadns.services (name) VALUES ('api.example.net');

INSERT INTO loadns.backends (service, name, address)
VALUES ('api.example.com', 'b1', '192.0.2.10'), ('api.example.com', 'b2', '192.0.2.11'),
       ('dual.example.com', 'v4', '192.0.2.20'), ('dual.example.com', 'v6', '2001:db8::20'),
       ('api.eu.example.com', 'eu1', '192.0.2.30'),
       ('strict.example.com', 's1', '192.0.2.40'),
       ('api.example.net', 'n1', '192.0.2.50');
INSERT INTO loadns.backends (service, name, address)
SELECT 'big.example.com', 'big' || i, ('192.0.2.' || (100 + i))::inet
FROM generate_series(1, 40) AS i;

INSERT INTO loadns.records (name, type, ttl, data)
VALUES ('ns1.example.com', 'A', 3600, '192.0.2.53'),
       ('ns1.example.com', 'AAAA', 3600, '2001:db8::53'),
       ('ns2.example.com', 'A', 3600, '192.0.2.54'),
       ('www.example.com', 'A', 120, '192.0.2.80'),
       ('www.example.com', 'AAAA', 120, '2001:db8::80'),
       ('alias.example.com', 'CNAME', 120, 'www.example.com'),
       ('txt.example.com', 'TXT', 120, '"hello world"'),
       ('example.com', 'MX', 120, '10 mail.example.com'),
       ('mail.example.com', 'A', 120, '192.0.2.25'),
       ('host.lab.example.com', 'A', 120, '192.0.2.90');
)sql";

server_options options_for(const pg_cluster& pg) {
  server_options o;
  o.binary = server_binary(LOADNS_SERVER_BINARY);
  o.conninfo = pg.conninfo("loadns", "server");
  return o;
}

seeded_cluster::seeded_cluster(const char* seed) {
  pg.create_loadns_database();
  pg.psql(seed);
}

environment::environment(const char* seed)
    : seeded_cluster(seed), server(std::make_unique<server_process>(options_for(pg))) {}

std::string metrics_page(const server_process& s) {
  const auto r = http_get(s.metrics_port(), "/metrics", std::chrono::seconds(5));
  REQUIRE(r.has_value());
  REQUIRE(r->status == 200);
  return r->body;
}

std::optional<double> sample(const std::string& page, const std::string& metric,
                             const std::string& match) {
  std::size_t pos = 0;
  while ((pos = page.find(metric, pos)) != std::string::npos) {
    const auto end = page.find('\n', pos);
    const bool line_start = pos == 0 || page[pos - 1] == '\n';
    const auto line = page.substr(pos, end - pos);
    pos = end;
    if (!line_start) continue;  // a mention in a # HELP line
    if (line.rfind(metric + "{", 0) != 0 && line.rfind(metric + " ", 0) != 0) continue;
    if (!match.empty() && line.find(match) == std::string::npos) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

environment& environment::shared() {
  static environment env;
  return env;
}

}  // namespace loadns::test::e2e
