// The descriptor limit loadns-server runs with: it raises its soft RLIMIT_NOFILE to the hard
// limit at startup (the usual soft 1024 is below the default --tcp-max-connections), and when
// even the hard limit is below what the configuration needs it says so, naming both numbers,
// and serves anyway.

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/faults/fault_support.hpp"

namespace {

using namespace loadns::test;
using namespace loadns::test::faults;

/// The soft and hard "Max open files" of a process, from /proc/PID/limits.
struct nofile {
  std::string soft, hard;
};
std::optional<nofile> max_open_files(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream f(line.substr(std::string_view("Max open files").size()));
    nofile n;
    if (f >> n.soft >> n.hard) return n;
  }
  return std::nullopt;
}

/// A script that starts the server under `prlimit --nofile=SOFT:HARD` (util-linux), so the
/// server is exec'd with those limits and keeps the script's pid; removed with the object.
class limited_launcher {
 public:
  limited_launcher(const std::string& server_binary, const std::string& limits) {
    char dir_template[] = "/tmp/loadns-fd-limit-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    path_ = dir_ / "loadns-server";
    std::ofstream(path_) << "#!/bin/sh\nexec /usr/bin/prlimit --nofile=" << limits << " -- '"
                         << server_binary << "' \"$@\"\n";
    REQUIRE(::chmod(path_.c_str(), 0755) == 0);
  }
  ~limited_launcher() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  limited_launcher(const limited_launcher&) = delete;
  limited_launcher& operator=(const limited_launcher&) = delete;
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
};

struct limited_world {
  pg_cluster pg;
  std::unique_ptr<limited_launcher> launcher;
  std::unique_ptr<server_process> server;
  limited_world(const std::string& limits, std::vector<std::string> extra) {
    REQUIRE(std::filesystem::exists("/usr/bin/prlimit"));
    pg.create_loadns_database();
    pg.psql(seed_sql);
    auto o = server_options_for(pg.conninfo("loadns", "server"));
    launcher = std::make_unique<limited_launcher>(o.binary, limits);
    o.binary = launcher->path();
    o.extra_args = std::move(extra);
    server = std::make_unique<server_process>(o);
  }
};

bool answers_over_tcp_and_udp(std::uint16_t port) {
  for (const auto t : {transport::udp, transport::tcp}) {
    const auto reply =
        exchange(port, t, make_query(query_spec{.id = 0x0600, .name = "api.example.com"}), 2s);
    const auto h = reply ? parse_header(*reply) : std::nullopt;
    if (!h || h->rcode != rcode::noerror || h->ancount == 0) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a soft RLIMIT_NOFILE below the hard limit is raised to it at startup") {
  limited_world w("256:4096", {});
  const auto limits = max_open_files(w.server->pid());
  REQUIRE(limits.has_value());
  const auto log = w.server->log();
  std::printf("started with nofile 256:4096: /proc/PID/limits says soft %s hard %s\n",
              limits->soft.c_str(), limits->hard.c_str());
  CHECK(limits->soft == "4096");
  CHECK(limits->hard == "4096");
  CHECK_MESSAGE(
      log.find("raised the RLIMIT_NOFILE soft limit from 256 to 4096") != std::string::npos,
      w.server->log_tail());
  // The default cap of 1024 connections fits in 4096: no warning.
  CHECK_MESSAGE(log.find("RLIMIT_NOFILE allows") == std::string::npos, w.server->log_tail());
  CHECK(answers_over_tcp_and_udp(w.server->port()));
}

TEST_CASE(
    "a hard RLIMIT_NOFILE below what --tcp-max-connections needs is logged as a warning "
    "naming both numbers, and the server serves anyway") {
  limited_world w("256:256", {"--tcp-max-connections", "1000"});
  const auto limits = max_open_files(w.server->pid());
  REQUIRE(limits.has_value());
  const auto log = w.server->log();
  std::smatch m;
  const std::regex warning(
      R"(warn.*RLIMIT_NOFILE allows (\d+) descriptors \(hard limit (\d+)\) but this configuration needs up to (\d+))");
  const bool warned = std::regex_search(log, m, warning);
  REQUIRE_MESSAGE(warned, w.server->log_tail());
  std::printf("started with nofile 256:256 and --tcp-max-connections 1000: %s\n", m.str(0).c_str());
  CHECK(limits->soft == "256");
  CHECK(m.str(1) == "256");
  CHECK(m.str(2) == "256");
  CHECK(std::stoul(m.str(3)) > 1000);
  CHECK(answers_over_tcp_and_udp(w.server->port()));
  CHECK(w.server->running());
}
