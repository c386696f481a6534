// The real loadns-agent binary against a real PostgreSQL (tests/support/pg_cluster.hpp) and real
// loopback connections: reports follow connections, outages are ridden out, SIGTERM drains,
// bad flags are refused.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/agent/loopback_load.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/pg_cluster.hpp"

using namespace std::chrono_literals;
using loadns::test::connection_set;
using loadns::test::eventually;
using loadns::test::pg_cluster;
using loadns::test::tcp_listener;

namespace {

using clock_type = std::chrono::steady_clock;

constexpr auto interval = 300ms;
const std::string interval_flag = "300ms";

// A running loadns-agent; stderr goes to a file the test reads. Killed if still running at the
// end of the test.
class agent_process {
 public:
  explicit agent_process(const std::vector<std::string>& args) {
    static int serial = 0;
    log_path_ = std::filesystem::temp_directory_path() /
                ("loadns-agent-test-" + std::to_string(::getpid()) + "-" +
                 std::to_string(++serial) + ".log");
    std::vector<std::string> argv{LOADNS_AGENT_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      ::dup2(fd, 2);
      ::dup2(fd, 1);
      std::vector<char*> cargs;
      for (auto& a : argv) cargs.push_back(a.data());
      cargs.push_back(nullptr);
      ::execv(cargs[0], cargs.data());
      ::_exit(127);
    }
  }
  ~agent_process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    std::filesystem::remove(log_path_, ec);
  }
  agent_process(const agent_process&) = delete;
  agent_process& operator=(const agent_process&) = delete;

  [[nodiscard]] bool running() {
    if (exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = status;
      return false;
    }
    return true;
  }
  void signal(int sig) const { ::kill(pid_, sig); }
  /// The exit code, or -1 if it did not exit within `timeout` (or died of a signal).
  int wait_exit(std::chrono::milliseconds timeout) {
    if (!eventually(timeout, [&] { return !running(); })) return -1;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }
  [[nodiscard]] std::string log() const {
    std::ifstream in(log_path_);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

struct database {
  pg_cluster pg;
  database() {
    pg.create_loadns_database();
    pg.psql(
        "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', "
        "ARRAY['ns1.example.com']);"
        "INSERT INTO loadns.services (name) VALUES ('api.example.com');"
        "INSERT INTO loadns.agent_grants (login, service) VALUES ('agent', 'api.example.com');");
  }
  // One value (psql -At), or what went wrong.
  [[nodiscard]] std::string query(const std::string& sql) const {
    try {
      std::string out = pg.psql(sql);
      while (!out.empty() && out.back() == '\n') out.pop_back();
      return out;
    } catch (const std::exception& e) {
      return std::string("(psql failed: ") + e.what() + ")";
    }
  }
  // "connections|draining|state" of the backend, or "" while it is not registered.
  [[nodiscard]] std::string backend(const std::string& name) const {
    return query(
        "SELECT connections || '|' || draining || '|' || state FROM loadns.backend_status "
        "WHERE service = 'api.example.com' AND name = '" +
        name + "'");
  }
  [[nodiscard]] std::vector<std::string> agent_args(const std::string& name, std::uint16_t port,
                                                    std::vector<std::string> extra = {}) const {
    std::vector<std::string> a{"--db",       pg.conninfo("loadns", "agent"),
                               "--service",  "api.example.com",
                               "--address",  "192.0.2.10",
                               "--port",     std::to_string(port),
                               "--name",     name,
                               "--interval", interval_flag};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

std::string row(long connections, bool draining = false, const char* state = "serving") {
  return std::to_string(connections) + (draining ? "|true|" : "|false|") + state;
}

}  // namespace

TEST_CASE("the reported count follows real connections within two intervals") {
  database db;
  tcp_listener v4("127.0.0.1");
  tcp_listener v6("::1", v4.port());
  tcp_listener other("127.0.0.1");  // another port: never counted
  agent_process agent(db.agent_args("b1", v4.port()));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(0); }), agent.log());

  connection_set c4(v4), c6(v6), c_other(other);
  c_other.open(9);
  const auto step = [&](std::size_t n4, std::size_t n6) {
    if (n4 > c4.size())
      c4.open(n4 - c4.size());
    else
      c4.close(c4.size() - n4);
    if (n6 > c6.size())
      c6.open(n6 - c6.size());
    else
      c6.close(c6.size() - n6);
    const std::string want = row(static_cast<long>(n4 + n6));
    CAPTURE(want);
    std::string seen;
    CHECK_MESSAGE(eventually(2 * interval, [&] { return (seen = db.backend("b1")) == want; }),
                  seen);
  };
  step(10, 0);
  step(10, 5);
  step(4, 5);
  step(250, 0);
  step(0, 0);
  CHECK(agent.running());

  // One line per state change, not one per report: a dozen reports, a handful of lines.
  const std::string log = agent.log();
  CAPTURE(log);
  CHECK(occurrences(log, "connected to the database") == 1);
  CHECK(occurrences(log, "\n") <= 4);
}

TEST_CASE("PostgreSQL stopped and restarted under a running agent: reports resume") {
  database db;
  tcp_listener l("127.0.0.1");
  connection_set conns(l);
  conns.open(2);
  agent_process agent(db.agent_args("b1", l.port()));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(2); }), agent.log());

  db.pg.stop();
  conns.open(5);  // counted while the database is away, reported when it is back
  // The outage lasts until the agent has seen it (a failed report), not a guessed time.
  CHECK_MESSAGE(
      eventually(10s, [&] { return occurrences(agent.log(), "database connection lost") == 1; }),
      agent.log());
  CHECK(agent.running());
  db.pg.start();
  std::string seen;
  CHECK_MESSAGE(eventually(15s, [&] { return (seen = db.backend("b1")) == row(7); }), seen);
  CHECK(agent.running());

  const std::string log = agent.log();
  CAPTURE(log);
  CHECK(occurrences(log, "database connection lost") == 1);
  CHECK(occurrences(log, "reports resumed") == 1);

  // A crash (SIGKILL of the postmaster) is ridden out the same way.
  db.pg.kill();
  conns.close(3);
  CHECK_MESSAGE(
      eventually(10s, [&] { return occurrences(agent.log(), "database connection lost") == 2; }),
      agent.log());
  db.pg.start();
  CHECK_MESSAGE(eventually(15s, [&] { return (seen = db.backend("b1")) == row(4); }), seen);
  CHECK(agent.running());
}

TEST_CASE("a database down at start is waited out and is not an exit") {
  database db;
  db.pg.stop();
  tcp_listener l("127.0.0.1");
  connection_set conns(l);
  conns.open(3);
  agent_process agent(db.agent_args("b1", l.port()));
  REQUIRE_MESSAGE(
      eventually(10s, [&] { return occurrences(agent.log(), "database unreachable") >= 1; }),
      agent.log());
  REQUIRE(agent.running());
  db.pg.start();
  std::string seen;
  CHECK_MESSAGE(eventually(15s, [&] { return (seen = db.backend("b1")) == row(3); }), seen);
  const std::string log = agent.log();
  CAPTURE(log);
  CHECK(occurrences(log, "database unreachable") == 1);
}

TEST_CASE("SIGTERM reports draining then exits 0 but --no-drain-on-exit does not") {
  database db;
  tcp_listener l("127.0.0.1");
  connection_set conns(l);
  conns.open(4);

  agent_process drains(db.agent_args("b1", l.port(), {"--interval", "1h"}));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(4); }), drains.log());
  // The interval is an hour: only a wait woken by the signal exits in time.
  const auto t0 = clock_type::now();
  drains.signal(SIGTERM);
  CHECK(drains.wait_exit(3s) == 0);
  CHECK(clock_type::now() - t0 < 2s);
  CHECK(db.backend("b1") == row(4, true, "draining"));

  agent_process keeps(db.agent_args("b2", l.port(), {"--no-drain-on-exit"}));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b2") == row(4); }), keeps.log());
  keeps.signal(SIGINT);
  CHECK(keeps.wait_exit(3s) == 0);
  CHECK(db.backend("b2") == row(4));
}

TEST_CASE("--capacity is reported and the password never reaches the log") {
  database db;
  tcp_listener l("127.0.0.1");
  auto args = db.agent_args("b1", l.port(), {"--capacity", "100", "--counter", "proc"});
  args[1] += " password=topsecret-42";  // trust auth ignores it; the agent must not print it
  agent_process agent(args);
  std::string seen;
  CHECK_MESSAGE(eventually(10s, [&] { return (seen = db.backend("b1")) == row(0); }),
                (seen + "\n" + agent.log()));
  CHECK(db.query("SELECT capacity FROM loadns.backend_status WHERE name = 'b1'") == "100");
  agent.signal(SIGTERM);
  CHECK_MESSAGE(agent.wait_exit(5s) == 0, agent.log());
  const std::string log = agent.log();
  CAPTURE(log);
  CHECK(log.find("topsecret") == std::string::npos);
  CHECK(log.find("password=********") != std::string::npos);
  CHECK(log.find("/proc/net/tcp") != std::string::npos);  // the forced method is logged
}

TEST_CASE("bad flags: a clear message and a non-zero exit while --help and --version exit 0") {
  struct bad {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<bad> cases = {
      {{"--service", "api.example.com", "--address", "192.0.2.1", "--port", "80"}, "--db"},
      {{"--db", "host=127.0.0.1", "--service", "a", "--address", "192.0.2.1", "--port", "99999"},
       "--port"},
      {{"--db", "host=127.0.0.1", "--service", "a", "--address", "nowhere", "--port", "80"},
       "address"},
      {{"--db", "host=127.0.0.1", "--service", "a", "--address", "192.0.2.1", "--port", "80",
        "--interval", "fast"},
       "duration"},
      {{"--db", "host=127.0.0.1", "--service", "a", "--address", "192.0.2.1", "--port", "80",
        "--what"},
       "--what"},
  };
  for (const auto& c : cases) {
    agent_process agent(c.args);
    const int code = agent.wait_exit(5s);
    const std::string log = agent.log();
    CAPTURE(log);
    CHECK(code == 2);
    CHECK(log.find(c.says) != std::string::npos);
  }
  agent_process help({"--help"});
  CHECK(help.wait_exit(5s) == 0);
  CHECK(help.log().find("--no-drain-on-exit") != std::string::npos);
  agent_process version({"--version"});
  CHECK(version.wait_exit(5s) == 0);
  CHECK(version.log().find(LOADNS_VERSION) != std::string::npos);
}
