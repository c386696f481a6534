// Answer counts shared by every nameserver (server/db/sharer.hpp), end to end: two real
// loadns-servers on one real PostgreSQL, backends without agents (load counted from answers
// alone), dig as the client.

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/support/dns_client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/server_process.hpp"

namespace {

using namespace loadns::test;
using namespace std::chrono_literals;

constexpr int backends = 8;

// One zone, one service with eight operator-inserted backends (no agent ever reports).
void seed(pg_cluster& pg) {
  pg.create_loadns_database();
  pg.psql(R"sql(
INSERT INTO loadns.zones (name, mname, rname, nameservers)
VALUES ('example.com', 'ns1.example.com', 'hostmaster.example.com',
        ARRAY['ns1.example.com', 'ns2.example.com']);
INSERT INTO loadns.services (name) VALUES ('api.example.com');
INSERT INTO loadns.backends (service, name, address)
SELECT 'api.example.com', 'b' || i, ('192.0.2.' || (10 + i))::inet FROM generate_series(1, 8) AS i;
)sql");
}

std::unique_ptr<server_process> start_server(const pg_cluster& pg, std::vector<std::string> extra) {
  server_options o;
  o.binary = server_binary(LOADNS_SERVER_BINARY);
  o.conninfo = pg.conninfo("loadns", "server");
  o.threads = 1;
  o.extra_args = std::move(extra);
  return std::make_unique<server_process>(o);
}

/// The backend one A query for a fresh nonce name got.
std::string ask(const server_process& s, int n) {
  const auto r = dig(s.port(), transport::udp, "q" + std::to_string(n) + ".api.example.com");
  const auto data = r.response().answer_data("A");
  REQUIRE_MESSAGE(data.size() == 1, r.output);
  return data.front();
}

/// A counter or gauge of the server's /metrics page; -1 when absent or unreachable.
double metric(const server_process& s, const std::string& name) {
  const auto page = http_get(s.metrics_port(), "/metrics");
  if (!page || page->status != 200) return -1;
  const auto at = page->body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(page->body.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("answers given by one server steer the other's picks") {
  pg_cluster pg;
  seed(pg);
  auto a = start_server(pg, {});
  auto b = start_server(pg, {});
  int query = 0;
  double a_learnt = 0;
  // Each round server A answers seven queries: seven different backends (least_load, every
  // load level), so exactly one is left with the least load. Server B, once it has read A's
  // counts, must answer with that one; on its own counts it would pick any of the others it
  // has answered least (one in eight, then one in seven, by chance).
  for (int round = 1; round <= 3; ++round) {
    CAPTURE(round);
    std::set<std::string> by_a;
    for (int i = 0; i < backends - 1; ++i) by_a.insert(ask(*a, ++query));
    REQUIRE(by_a.size() == backends - 1);
    const double want = round * (backends - 1.0);
    REQUIRE_MESSAGE(
        eventually(10s, [&] { return metric(*b, "loadns_share_answers_total") >= want; }),
        "B never read A's answers: ", metric(*b, "loadns_share_answers_total"), "\n",
        b->log_tail());
    const auto by_b = ask(*b, ++query);
    CHECK_MESSAGE(by_a.count(by_b) == 0, "B answered ", by_b, ", which A had just answered");
    // A reads B's answer before the next round, so that both see every backend level again.
    a_learnt += 1;
    REQUIRE(eventually(10s, [&] { return metric(*a, "loadns_share_answers_total") >= a_learnt; }));
  }
  CHECK(metric(*a, "loadns_share_servers") == 1);
  CHECK(metric(*a, "loadns_share_up") == 1);
  CHECK(metric(*a, "loadns_share_errors_total") == 0);
  // Rows carry each server's identity; only the two of them wrote.
  CHECK(pg.psql("SELECT count(DISTINCT server) FROM loadns.shared_answers") == "2");
  CHECK(pg.psql("SELECT sum(answers) FROM loadns.shared_answers") == std::to_string(query));
}

TEST_CASE("an unreachable share database leaves each server with its own counts") {
  pg_cluster pg;
  seed(pg);
  // The snapshot comes from --db; the counts would go to a port where nothing listens.
  const auto nowhere = "host=127.0.0.1 port=" + std::to_string(free_port()) +
                       " dbname=loadns user=server connect_timeout=1";
  auto a = start_server(pg, {"--share-db", nowhere});
  auto b = start_server(pg, {"--share-db", nowhere});
  REQUIRE(eventually(10s, [&] { return metric(*a, "loadns_share_errors_total") > 0; }));
  REQUIRE(eventually(10s, [&] { return metric(*b, "loadns_share_errors_total") > 0; }));
  // Each server still spreads its own answers: eight queries, eight different backends.
  int query = 0;
  for (auto* s : {a.get(), b.get()}) {
    std::set<std::string> seen;
    for (int i = 0; i < backends; ++i) seen.insert(ask(*s, ++query));
    CHECK(seen.size() == backends);
    CHECK(metric(*s, "loadns_share_up") == 0);
    CHECK(metric(*s, "loadns_share_answers_total") == 0);
  }
  CHECK(a->running());
  CHECK(b->running());
  CHECK(a->log().find("balancing on this server's own counts") != std::string::npos);
}

TEST_CASE("a server whose database goes away keeps balancing on its own counts") {
  pg_cluster pg;
  seed(pg);
  auto a = start_server(pg, {});
  auto b = start_server(pg, {});
  std::set<std::string> by_a;
  for (int i = 0; i < 4; ++i) by_a.insert(ask(*a, i));
  REQUIRE(by_a.size() == 4);
  REQUIRE(eventually(10s, [&] { return metric(*b, "loadns_share_answers_total") >= 4; }));
  pg.stop();
  REQUIRE(eventually(15s, [&] { return metric(*b, "loadns_share_up") == 0; }));
  // B knows A's four answers and its own from now on: the next four go to the four backends
  // A left alone, then the eight are level and eight more go one to each.
  std::set<std::string> first, second;
  for (int i = 0; i < 4; ++i) first.insert(ask(*b, 100 + i));
  for (int i = 0; i < backends; ++i) second.insert(ask(*b, 200 + i));
  CHECK(first.size() == 4);
  for (const auto& x : first) CHECK_MESSAGE(by_a.count(x) == 0, x, " was answered by A already");
  CHECK(second.size() == backends);
  CHECK(b->running());
}

TEST_CASE("only loadns_server writes the shared counts, agents cannot even read them") {
  pg_cluster pg;
  pg.create_loadns_database();
  CHECK(pg.psql_error("INSERT INTO loadns.shared_answers (server, flush, backend_id, answers) "
                      "VALUES ('x', 1, 1, 1)",
                      "server") == "");
  CHECK(pg.psql("SELECT count(*) FROM loadns.shared_answers", "loadns", "server") == "1");
  CHECK(pg.psql_error("DELETE FROM loadns.shared_answers", "server") == "");
  CHECK(pg.psql_error("SELECT * FROM loadns.shared_answers", "agent") != "");
  CHECK(pg.psql_error("INSERT INTO loadns.shared_answers (server, flush, backend_id, answers) "
                      "VALUES ('x', 2, 1, 1)",
                      "agent") != "");
  CHECK(pg.psql_error("UPDATE loadns.shared_answers SET answers = 2", "server") != "");
}
