// --state-dir end to end: a server restarted while PostgreSQL is down answers from the rows
// it kept, says so in loadns_snapshot_from_disk, and switches to the database when it
// returns; a damaged or foreign state file is refused with one log line and never served.

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "tests/integration/server/environment.hpp"
#include "tests/support/eventually.hpp"

namespace {

using namespace std::chrono_literals;
using loadns::test::both_transports;
using loadns::test::dig;
using loadns::test::eventually;
using loadns::test::exchange;
using loadns::test::http_get;
using loadns::test::make_query;
using loadns::test::parse_header;
using loadns::test::pg_cluster;
using loadns::test::query_spec;
using loadns::test::server_options;
using loadns::test::server_process;
using loadns::test::to_string;
using loadns::test::transport;
using loadns::test::e2e::options_for;
using loadns::test::e2e::seeded_cluster;
using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

// A fresh folder, removed with its files at the end.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string templ = (fs::temp_directory_path() / "loadns-state-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path file() const { return path / "source.state"; }
};

server_options with_state(const pg_cluster& pg, const temp_dir& dir) {
  auto o = options_for(pg);
  o.extra_args = {"--state-dir", dir.path.string()};
  return o;
}

// A metric without labels, as /metrics shows it; nullopt when absent.
std::optional<double> metric(const server_process& s, const std::string& name) {
  const auto r = http_get(s.metrics_port(), "/metrics", 5s);
  if (!r) return std::nullopt;
  const auto at = r->body.find("\n" + name + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(r->body.substr(at + name.size() + 2));
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A server with the database up writes its state file, then stops.
std::string keep_state(seeded_cluster& db, const temp_dir& dir) {
  server_process first(with_state(db.pg, dir));
  INFO(first.log_tail());
  REQUIRE(eventually(10s, [&] { return metric(first, "loadns_state_writes_total") >= 1.0; }));
  REQUIRE(fs::exists(dir.file()));
  // Polls that find nothing changed write nothing (the ages the clock adds are no change).
  const auto polls = metric(first, "loadns_polls_total").value_or(0);
  REQUIRE(eventually(10s, [&] { return metric(first, "loadns_polls_total") >= polls + 3; }));
  CHECK(metric(first, "loadns_state_writes_total") == 1.0);
  CHECK(metric(first, "loadns_snapshot_from_disk") == 0.0);
  CHECK(first.stop() == 0);
  return read_file(dir.file());
}

}  // namespace

TEST_CASE("restarted with PostgreSQL down, the server answers from --state-dir within a second") {
  seeded_cluster db;
  temp_dir dir;
  keep_state(db, dir);
  db.pg.stop();

  auto options = with_state(db.pg, dir);
  options.wait = server_options::wait_for::none;
  const auto t0 = steady::now();
  server_process server(options);
  INFO(server.log_tail());
  // The first NOERROR answer for a static name, asked over UDP every few ms from the start.
  query_spec q;
  q.name = "www.example.com";
  const auto query = make_query(q);
  std::optional<steady::duration> first_answer;
  const bool answered = eventually(
      10s,
      [&] {
        const auto reply = exchange(server.port(), transport::udp, query, 50ms);
        const auto h = reply ? parse_header(*reply) : std::nullopt;
        if (!h || h->rcode != 0 || h->ancount == 0) return false;
        first_answer = steady::now() - t0;
        return true;
      },
      5ms);
  REQUIRE_MESSAGE(answered, "no answer from the state file within 10 s");
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*first_answer).count();
  MESSAGE("first answer from the state file ", ms, " ms after the server was started");
  CHECK(ms < 2000);  // 1 s is the promise; the margin is for a loaded CI machine

  CHECK(metric(server, "loadns_snapshot_from_disk") == 1.0);
  CHECK(metric(server, "loadns_database_up") == 0.0);
  CHECK(
      eventually(5s, [&] { return count(server.log(), "answering from the state file /") == 1; }));
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto www = dig(server.port(), t, "www.example.com").response();
    www.check_rcode("NOERROR");
    CHECK(www.answer_data("A") == std::vector<std::string>{"192.0.2.80"});
    const auto soa = dig(server.port(), t, "example.com", "SOA").response();
    soa.check_rcode("NOERROR");
    CHECK(soa.answer_data("SOA").size() == 1);
    CHECK(dig(server.port(), t, "example.com", "NS").response().answer_data("NS").size() == 2);
    const auto api = dig(server.port(), t, "x7k2.api.example.com").response();
    api.check_rcode("NOERROR");
    REQUIRE(api.answer_data("A").size() == 1);
    const auto address = api.answer_data("A")[0];
    CHECK((address == "192.0.2.10" || address == "192.0.2.11"));
  }

  // The database returns: the first good poll replaces the snapshot, and changes show.
  db.pg.start();
  db.pg.psql(
      "INSERT INTO loadns.records (name, type, ttl, data) "
      "VALUES ('back.example.com', 'A', 60, '192.0.2.77')");
  REQUIRE_MESSAGE(eventually(30s,
                             [&] {
                               return dig(server.port(), transport::udp, "back.example.com")
                                          .response()
                                          .answer_data("A") ==
                                      std::vector<std::string>{"192.0.2.77"};
                             }),
                  "the database's change was not served within 30 s of its return");
  CHECK(metric(server, "loadns_snapshot_from_disk") == 0.0);
  CHECK(count(server.log(), "replaces the one from the state file") == 1);
  // The change is kept too (within the 5 s between writes).
  CHECK(eventually(15s, [&] { return metric(server, "loadns_state_writes_total") >= 1.0; }));
  CHECK(eventually(15s,
                   [&] { return read_file(dir.file()).find("192.0.2.77") != std::string::npos; }));
}

TEST_CASE("a damaged, truncated or foreign state file is refused with one log line") {
  seeded_cluster db;
  temp_dir dir;
  const auto good = keep_state(db, dir);
  REQUIRE(good.size() > 64);
  db.pg.stop();

  std::string flipped = good;
  flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x01);
  std::string other_version = good;
  other_version[8] = static_cast<char>(other_version[8] + 1);
  const struct {
    const char* what;
    std::string bytes;
    const char* reason;
  } cases[] = {
      {"one flipped bit", flipped, "checksum"},
      {"truncated", good.substr(0, good.size() - 9), "truncated"},
      {"foreign", "zone example.com\nwww 60 A 192.0.2.80\n", "magic"},
      {"another version", other_version, "version"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    write_file(dir.file(), c.bytes);
    auto options = with_state(db.pg, dir);
    options.wait = server_options::wait_for::listening;
    server_process server(options);
    INFO(server.log_tail());
    for (auto t : both_transports) {
      INFO(to_string(t));
      dig(server.port(), t, "www.example.com").response().check_rcode("SERVFAIL");
    }
    // The refresher thread reads the file while the listeners open: wait for its verdict.
    CHECK(eventually(10s, [&] { return count(server.log(), "refused, not served") == 1; }));
    const auto log = server.log();
    CHECK(log.find(c.reason) != std::string::npos);
    CHECK(metric(server, "loadns_snapshot_from_disk") == 0.0);
    CHECK(server.running());
    CHECK(server.stop() == 0);
    CHECK(read_file(dir.file()) == c.bytes);  // left as it was, for the operator to look at
  }
}

TEST_CASE(
    "a zone row forced past the schema is kept in the state file as its last good version, "
    "with the other rows as they are") {
  seeded_cluster db;
  temp_dir dir;
  {
    server_process first(with_state(db.pg, dir));
    INFO(first.log_tail());
    REQUIRE(eventually(10s, [&] { return metric(first, "loadns_state_writes_total") >= 1.0; }));
    db.pg.psql(
        "ALTER TABLE loadns.zones DROP CONSTRAINT zones_nameservers_not_empty;"
        "UPDATE loadns.zones SET nameservers = '{}' WHERE name = 'example.com';"
        "INSERT INTO loadns.records (name, type, ttl, data) "
        "VALUES ('later.example.com', 'A', 60, '192.0.2.78')");
    // Written within the 5 s between writes, with the record that came with the bad row.
    CHECK(eventually(
        15s, [&] { return read_file(dir.file()).find("192.0.2.78") != std::string::npos; }));
    CHECK(count(first.log(), "its last good version is served") == 1);
    CHECK(first.stop() == 0);
  }
  db.pg.stop();

  auto options = with_state(db.pg, dir);
  options.wait = server_options::wait_for::listening;
  server_process server(options);
  INFO(server.log_tail());
  // The refresher thread restores the file while the listeners open: wait for it.
  REQUIRE(eventually(10s, [&] { return metric(server, "loadns_snapshot_from_disk") == 1.0; }));
  for (auto t : both_transports) {
    INFO(to_string(t));
    CHECK(dig(server.port(), t, "example.com", "NS").response().answer_data("NS").size() == 2);
    CHECK(dig(server.port(), t, "later.example.com").response().answer_data("A") ==
          std::vector<std::string>{"192.0.2.78"});
  }
  CHECK(count(server.log(), "row skipped") == 0);  // the file holds the good version
}
