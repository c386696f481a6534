// loadns-resolve (and the resolver library) against loadns-server itself, fed by a private
// PostgreSQL: nonce names in both styles resolve to the service's backends, --count shows
// least_load spreading answers evenly, and the server's rcodes come out as words and exit
// codes.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "client/nonce.hpp"
#include "client/resolver.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/server_process.hpp"

namespace {

using namespace std::chrono_literals;
using loadns::test::command_result;
using loadns::test::pg_cluster;
using loadns::test::server_process;

// Three backends inserted by SQL, no agents: the server counts their load from its own
// answers alone (docs/schema.md), so least_load must rotate through them evenly.
const char* const seed_sql = R"sql(
INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');
INSERT INTO loadns.records (name, type, ttl, data) VALUES ('ns1.example.com', 'A', 3600, '192.0.2.53');
INSERT INTO loadns.services (name) VALUES ('api.example.com'), ('v6.example.com');
INSERT INTO loadns.backends (service, name, address)
VALUES ('api.example.com', 'b1', '192.0.2.1'), ('api.example.com', 'b2', '192.0.2.2'),
       ('api.example.com', 'b3', '192.0.2.3'), ('v6.example.com', 'v6', '2001:db8::6');
)sql";

struct environment {
  pg_cluster pg;
  std::unique_ptr<server_process> server;

  environment() {
    pg.create_loadns_database();
    pg.psql(seed_sql);
    loadns::test::server_options o;
    o.binary = loadns::test::server_binary(LOADNS_SERVER_BINARY);
    o.conninfo = pg.conninfo("loadns", "server");
    server = std::make_unique<server_process>(o);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(server->port()); }

  static environment& shared() {
    static environment env;
    return env;
  }
};

command_result resolve(std::vector<std::string> args) {
  args.insert(args.begin(), LOADNS_RESOLVE_BINARY);
  return loadns::test::run_command(args, 30s);
}

// Summary rows "ADDRESS COUNT SHARE%" after the header, by address.
std::map<std::string, int> spread_of(const std::string& out) {
  std::map<std::string, int> rows;
  const std::regex row("(\\S+) +(\\d+) +[0-9.]+%");
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, row)) {
      rows[m[1]] = std::stoi(m[2]);
    }
  }
  return rows;
}

}  // namespace

TEST_CASE("dash and label nonce names resolve to a backend of the service") {
  auto& env = environment::shared();
  for (const char* style : {"dash", "label"}) {
    CAPTURE(style);
    const auto r = resolve({"--server", env.address(), "--style", style, "api.example.com"});
    CHECK(r.exit_code == 0);
    const std::string sep = std::string(style) == "dash" ? "-" : "\\.";
    CHECK(std::regex_match(
        r.out, std::regex("[a-z0-9]{12}" + sep + "api\\.example\\.com 192\\.0\\.2\\.[123]\n")));
  }
}

TEST_CASE("--count 300: least_load spreads the answers evenly over the three backends") {
  auto& env = environment::shared();
  const auto r = resolve({"--server", env.address(), "--count", "300", "api.example.com"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("300 lookups, 300 answered, 0 failed") != std::string::npos);
  const auto rows = spread_of(r.out);
  REQUIRE(rows.size() == 3);
  for (const auto& row : rows) {
    const auto& [address, count] = row;
    CAPTURE(row.first);
    // Without agents the server's own answer counts are the load: a near-perfect rotation.
    CHECK(count >= 95);
    CHECK(count <= 105);
  }
}

TEST_CASE("AAAA for an IPv6 backend, NODATA for the family a service lacks") {
  auto& env = environment::shared();
  const auto v6 = resolve({"--server", env.address(), "--type", "AAAA", "v6.example.com"});
  CHECK(v6.exit_code == 0);
  CHECK(v6.out.find("-v6.example.com 2001:db8::6\n") != std::string::npos);
  const auto nodata = resolve({"--server", env.address(), "--type", "AAAA", "api.example.com"});
  CHECK(nodata.exit_code == 4);
  CHECK(nodata.err.find("NODATA") != std::string::npos);
}

TEST_CASE("NXDOMAIN inside the zone, REFUSED outside it") {
  auto& env = environment::shared();
  const auto nx = resolve({"--server", env.address(), "--style", "label", "ns1.example.com"});
  CHECK(nx.exit_code == 3);
  CHECK(nx.err.find("NXDOMAIN") != std::string::npos);
  const auto refused = resolve({"--server", env.address(), "api.example.org"});
  CHECK(refused.exit_code == 6);
  CHECK(refused.err.find("REFUSED") != std::string::npos);
}

TEST_CASE("the library: make_nonce_name + resolver, the two calls an application makes") {
  auto& env = environment::shared();
  loadns::client::resolver dns({env.address()});
  std::string name;
  REQUIRE_FALSE(
      loadns::client::make_nonce_name("api.example.com", loadns::client::nonce_style::dash, name));
  const auto answer = dns.resolve(name, loadns::client::record_type::a);
  REQUIRE(answer.status == loadns::client::lookup_status::ok);
  REQUIRE(answer.addresses.size() == 1);
  CHECK(std::regex_match(answer.addresses.front(), std::regex("192\\.0\\.2\\.[123]")));
  CHECK(answer.ttl == 60);  // the service's default TTL
}
