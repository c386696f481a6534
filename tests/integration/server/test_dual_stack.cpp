// Dual-stack hosts end to end (docs/balancing.md "Dual-stack hosts: one load unit"): agents
// register hosts with an address of each family (report()'s second_address); clients that
// ask A and AAAA for every fresh nonce name, as getaddrinfo does, and connect over IPv4 get
// one host for both answers and leave the counts as even as IPv4-only clients do; old
// single-address rows and 6-argument reports keep working. Queries alternate UDP and TCP.
// One private cluster and server.
//
// Deterministic by construction: each client sends its A query, waits for the answer, then
// its AAAA query (the pair is never in flight at once, so the two answering threads cannot
// race), and nothing reports during the run, so least_load counts answers alone: every
// figure checked is exact, whatever the machine's load, as long as the AAAA follows its A
// within the 3-second window.

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/server/environment.hpp"
#include "tests/support/eventually.hpp"

namespace {

using namespace std::chrono_literals;
using loadns::test::eventually;
using loadns::test::server_process;
using loadns::test::transport;
using loadns::test::e2e::environment;
using loadns::test::e2e::metrics_page;
using loadns::test::e2e::sample;

constexpr std::size_t hosts = 4;
constexpr int clients = 200;  // per kind of client; a multiple of `hosts`

// Two services of four dual-stack hosts each, registered by their agents' reports with both
// addresses (the 9-argument report()): host k of ds.example.com is 192.0.2.(90+k) and
// 2001:db8::(90+k) (hex 5b..5e), of v4.example.com 192.0.2.(100+k) and 2001:db8::(100+k)
// (65..68): an answer's last octet names its host in either family. old.example.com: rows as
// before second_address, one from a 6-argument report, one an operator's.
const char* const seed = R"sql(
INSERT INTO loadns.zones (name, mname, rname, nameservers)
VALUES ('example.com', 'ns1.example.com', 'hostmaster.example.com', ARRAY['ns1.example.com']);
INSERT INTO loadns.records (name, type, data) VALUES ('ns1.example.com', 'A', '192.0.2.53');
INSERT INTO loadns.services (name, stale_after)
VALUES ('ds.example.com', '1 hour'), ('v4.example.com', '1 hour'), ('old.example.com', '1 hour');
SELECT loadns.report('ds.example.com', 'd' || k, ('192.0.2.' || (90 + k))::inet, 0, NULL, false,
                     true, NULL, ('2001:db8::' || to_hex(90 + k))::inet)
  FROM generate_series(1, 4) AS k;
SELECT loadns.report('v4.example.com', 'v' || k, ('192.0.2.' || (100 + k))::inet, 0, NULL, false,
                     true, NULL, ('2001:db8::' || to_hex(100 + k))::inet)
  FROM generate_series(1, 4) AS k;
SELECT loadns.report('old.example.com', 'o1', '192.0.2.111', 0, NULL, false);
INSERT INTO loadns.backends (service, name, address)
VALUES ('old.example.com', 'o2', '2001:db8::6f');
)sql";

environment& shared() {
  static environment w(seed);
  return w;
}

constexpr std::uint16_t type_a = 1, type_aaaa = 28;

/// The one address of a response to `name`, as its last octet (0: no single answer of the
/// type). Queries carry no EDNS, so the address's octets end the message.
int ask(std::uint16_t port, transport t, const std::string& name, std::uint16_t type) {
  static std::uint16_t id = 1;
  loadns::test::query_spec q;
  q.id = id++;
  q.name = name;
  q.type = type;
  const auto bytes = loadns::test::exchange(port, t, loadns::test::make_query(q), 5s);
  REQUIRE_MESSAGE(bytes.has_value(), "no answer to " << name);
  const auto h = loadns::test::parse_header(*bytes);
  REQUIRE(h.has_value());
  REQUIRE(h->rcode == loadns::test::rcode::noerror);
  const std::size_t length = type == type_a ? 4 : 16;
  if (h->ancount != 1 || bytes->size() < 12 + length) return 0;
  return bytes->back();
}

/// Per host k (1..4) of `service` (backend names prefix + k): `metric` as /metrics shows it.
std::array<double, hosts> per_host(const server_process& s, const std::string& metric,
                                   const std::string& service, const std::string& prefix) {
  const auto page = metrics_page(s);
  std::array<double, hosts> out{};
  for (std::size_t k = 1; k <= hosts; ++k) {
    out[k - 1] =
        sample(page, metric,
               "service=\"" + service + "\",backend=\"" + prefix + std::to_string(k) + "\"")
            .value_or(-1);
  }
  return out;
}

double spread(const std::array<double, hosts>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return *hi - *lo;
}

double sum(const std::array<double, hosts>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

TEST_CASE("clients asking A and AAAA per nonce name leave the counts as even as IPv4-only ones") {
  auto& w = shared();
  // IPv4 connections each host receives: the A answers' hosts.
  std::array<double, hosts> dual_connects{}, v4_connects{};
  int same_host = 0;
  for (int i = 0; i < clients; ++i) {
    const transport t = i % 2 ? transport::tcp : transport::udp;
    CAPTURE(i);
    // getaddrinfo's way: A and AAAA for the same fresh name (the AAAA with other 0x20 case,
    // as resolvers send them), then a connection over IPv4.
    const std::string name = "g" + std::to_string(i) + "-ds.example.com";
    const int v4 = ask(w.port(), t, name, type_a);
    const int v6 = ask(w.port(), t, "G" + name.substr(1), type_aaaa);
    REQUIRE((v4 >= 91 && v4 <= 94));
    CHECK(v6 == v4);  // one host for both families
    if (v6 == v4) ++same_host;
    ++dual_connects[static_cast<std::size_t>(v4 - 91)];
    // An IPv4-only client of the other service.
    const int only = ask(w.port(), t, "c" + std::to_string(i) + ".v4.example.com", type_a);
    REQUIRE((only >= 101 && only <= 104));
    ++v4_connects[static_cast<std::size_t>(only - 101)];
  }
  MESSAGE("dual-stack clients: AAAA named the A answer's host for ", same_host, " of ", clients,
          " names; IPv4 connections per host ", dual_connects[0], " ", dual_connects[1], " ",
          dual_connects[2], " ", dual_connects[3], "; IPv4-only clients: ", v4_connects[0], " ",
          v4_connects[1], " ", v4_connects[2], " ", v4_connects[3]);
  // The hosts IPv4 clients connect to are spread as evenly by either kind of client.
  CHECK(spread(dual_connects) <= 1);
  CHECK(spread(v4_connects) <= 1);
  // And each host's answers were counted once per client: the server's count is the
  // connections it will see, not twice as many.
  const auto ds_answers =
      per_host(*w.server, "loadns_backend_answers_total", "ds.example.com", "d");
  const auto v4_answers =
      per_host(*w.server, "loadns_backend_answers_total", "v4.example.com", "v");
  MESSAGE("loadns_backend_answers_total per host: dual-stack clients ", ds_answers[0], " ",
          ds_answers[1], " ", ds_answers[2], " ", ds_answers[3], ", IPv4-only clients ",
          v4_answers[0], " ", v4_answers[1], " ", v4_answers[2], " ", v4_answers[3]);
  for (std::size_t k = 0; k < hosts; ++k) {
    CAPTURE(k);
    CHECK(ds_answers[k] == dual_connects[k]);
    CHECK(v4_answers[k] == v4_connects[k]);
  }
  CHECK(sum(ds_answers) == clients);
  CHECK(spread(ds_answers) <= 1);

  // The agents report the connections their hosts received (over IPv4, the 9-argument
  // report with the host's second address): the server sees them, one series per host.
  std::string values;
  for (std::size_t k = 1; k <= hosts; ++k) {
    values += (k > 1 ? ", (" : "(") + std::to_string(k) + ", " +
              std::to_string(static_cast<int>(dual_connects[k - 1])) + ")";
  }
  const std::string sql =
      "SELECT loadns.report('ds.example.com', 'd' || k, ('192.0.2.' || (90 + k))::inet, c, NULL,"
      " false, true, NULL, ('2001:db8::' || to_hex(90 + k))::inet) FROM (VALUES " +
      values + ") AS v(k, c)";
  w.pg.psql(sql);
  std::array<double, hosts> reported{};
  CHECK(eventually(20s, [&] {
    reported = per_host(*w.server, "loadns_backend_connections", "ds.example.com", "d");
    return reported == dual_connects;
  }));
  CHECK(spread(reported) <= 1);
}

TEST_CASE("a dual-stack host is one backend in /metrics; old rows answer their own family") {
  auto& w = shared();
  const auto page = metrics_page(*w.server);
  // Four hosts of ds.example.com, each once, at its first address.
  for (std::size_t k = 1; k <= hosts; ++k) {
    CAPTURE(k);
    CHECK(page.find("loadns_backend_connections{service=\"ds.example.com\",backend=\"d" +
                    std::to_string(k) + "\",address=\"192.0.2." + std::to_string(90 + k) + "\"") !=
          std::string::npos);
  }
  CHECK(page.find("address=\"2001:db8::5b\"") == std::string::npos);
  // 4 + 4 dual-stack hosts and 2 single-address rows: 10 backends, all serving.
  CHECK(sample(page, "loadns_backends", "state=\"serving\"") == 10);
  // old.example.com: the 6-argument report's row answers A, the operator's IPv6 row AAAA; the
  // bare service name and nonce names alike.
  for (const transport t : loadns::test::both_transports) {
    CAPTURE(loadns::test::to_string(t));
    CHECK(ask(w.port(), t, "old.example.com", type_a) == 111);
    CHECK(ask(w.port(), t, "old.example.com", type_aaaa) == 0x6f);
    CHECK(ask(w.port(), t, "n1.old.example.com", type_a) == 111);
    CHECK(ask(w.port(), t, "n1.old.example.com", type_aaaa) == 0x6f);
  }
  // The bare name of a dual-stack service is not one client's: both families choose and
  // count, as before.
  const auto before = per_host(*w.server, "loadns_backend_answers_total", "v4.example.com", "v");
  for (int i = 0; i < 4; ++i) {
    ask(w.port(), transport::udp, "v4.example.com", type_a);
    ask(w.port(), transport::udp, "v4.example.com", type_aaaa);
  }
  const auto after = per_host(*w.server, "loadns_backend_answers_total", "v4.example.com", "v");
  CHECK(sum(after) - sum(before) == 8);
}
