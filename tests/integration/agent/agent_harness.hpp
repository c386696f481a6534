#pragma once
// The real loadns-agent binary under test: a child process with its output in a file, and a
// private database with the zone and service the agent reports into.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/pg_cluster.hpp"

namespace loadns::test::agent {

using namespace std::chrono_literals;

inline constexpr auto interval = 300ms;
inline const std::string interval_flag = "300ms";

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

inline std::size_t occurrences(const std::string& text, const std::string& what) {
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
        "INSERT INTO loadns.services (name) VALUES ('api.example.com');");
    // Agents here report loopback addresses too (agent_networks).
    pg.psql(
        "UPDATE loadns.services SET agent_networks = "
        "'{127.0.0.0/8,::1/128,192.0.2.0/24,2001:db8::/32}';");
  }
  // The login of the agent of backend `name`: one per backend, as the README asks of
  // deployments ("Agent logins"), `agent_<name>`, granted the service; created on first use
  // (agent_args calls it: take the arguments while the database is up).
  [[nodiscard]] std::string login_for(const std::string& name) const {
    const std::string login = "agent_" + name;
    pg.psql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + login +
            "') THEN CREATE ROLE " + login + " LOGIN IN ROLE loadns_agent; END IF; END $$;" +
            "INSERT INTO loadns.agent_grants (login, service) VALUES ('" + login +
            "', 'api.example.com') ON CONFLICT DO NOTHING;");
    return login;
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
    std::vector<std::string> a{"--db",       pg.conninfo("loadns", login_for(name)),
                               "--service",  "api.example.com",
                               "--address",  "192.0.2.10",
                               "--port",     std::to_string(port),
                               "--name",     name,
                               "--interval", interval_flag};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

inline std::string row(long connections, bool draining = false, const char* state = "serving") {
  return std::to_string(connections) + (draining ? "|true|" : "|false|") + state;
}

/// A backend's service as a process of its own: a TCP listener on `ip`:`port` (0: the kernel
/// picks) in a forked child that only waits, so the test can SIGKILL it as a crash would.
class listener_process {
 public:
  explicit listener_process(const std::string& ip, std::uint16_t port = 0) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(fds[0]);
      sockaddr_storage ss{};
      socklen_t len = 0;
      const bool v6 = ip.find(':') != std::string::npos;
      if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        ::inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
        len = sizeof *a;
      } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        ::inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
        len = sizeof *a;
      }
      const int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
      const int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      std::uint16_t bound = 0;
      if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
          ::listen(fd, 4096) == 0) {
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
        bound = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      }
      [[maybe_unused]] const auto w = ::write(fds[1], &bound, sizeof bound);
      for (;;) ::pause();
    }
    ::close(fds[1]);
    std::uint16_t bound = 0;
    const auto n = ::read(fds[0], &bound, sizeof bound);
    ::close(fds[0]);
    REQUIRE(n == static_cast<ssize_t>(sizeof bound));
    REQUIRE_MESSAGE(bound != 0, "listener_process: cannot listen on " << ip << ":" << port);
    port_ = bound;
  }
  ~listener_process() { kill(); }
  listener_process(const listener_process&) = delete;
  listener_process& operator=(const listener_process&) = delete;

  /// SIGKILL, then reap: the kernel has closed the listening socket when this returns.
  void kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace loadns::test::agent
