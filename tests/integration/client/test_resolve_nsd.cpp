// loadns-resolve and client/resolver.cpp against NSD, a reference authoritative server, on a
// loopback high port: every rcode the client must put into words, over real sockets.
// (test_resolve_server.cpp runs the same client against loadns-server itself.)
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/resolver.hpp"
#include "tests/support/server_process.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using loadns::test::run_command;

const std::string resolve_binary = LOADNS_RESOLVE_BINARY;

// NSD in a temporary folder, serving example.com (wildcards so that every nonce name exists),
// and broken.test, a configured zone without a zone file, which NSD answers with SERVFAIL.
class nsd_server {
 public:
  nsd_server() : port_(loadns::test::free_port()) {
    char templ[] = "/tmp/loadns-nsd-XXXXXX";
    if (::mkdtemp(templ) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    dir_ = templ;
    std::ofstream(dir_ / "example.com.zone") << R"($ORIGIN example.com.
$TTL 60
@        IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 30
@        IN NS  ns1.example.com.
ns1      IN A   127.0.0.1
*        IN A   192.0.2.10
*.api    IN A   192.0.2.11
multi    IN A   192.0.2.21
multi    IN A   192.0.2.22
v6       IN AAAA 2001:db8::1
)";
    const auto d = dir_.string();
    std::ofstream(dir_ / "nsd.conf") << "server:\n"
                                     << "  ip-address: 127.0.0.1@" << port_ << "\n"
                                     << "  ip-address: ::1@" << port_ << "\n"
                                     << "  username: \"\"\n  chroot: \"\"\n  database: \"\"\n"
                                     << "  zonesdir: \"" << d << "\"\n"
                                     << "  pidfile: \"" << d << "/nsd.pid\"\n"
                                     << "  xfrdfile: \"" << d << "/xfrd.state\"\n"
                                     << "  zonelistfile: \"" << d << "/zone.list\"\n"
                                     << "  logfile: \"" << d << "/nsd.log\"\n"
                                     << "  server-count: 1\n  verbosity: 1\n"
                                     << "remote-control:\n  control-enable: no\n"
                                     << "zone:\n  name: example.com\n"
                                     << "  zonefile: example.com.zone\n"
                                     << "zone:\n  name: broken.test\n  zonefile: missing.zone\n";
    const char* env = std::getenv("LOADNS_NSD");  // NOLINT(concurrency-mt-unsafe): one thread
    const std::string nsd = env != nullptr ? env : "/usr/sbin/nsd";
    const std::string conf = (dir_ / "nsd.conf").string();
    std::vector<char*> argv{const_cast<char*>(nsd.c_str()), const_cast<char*>("-d"),
                            const_cast<char*>("-c"), const_cast<char*>(conf.c_str()), nullptr};
    if (::posix_spawn(&pid_, nsd.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + nsd + " (apt-get install nsd)");
    }
    // Ready when it answers; NSD reads zones after binding, so ask for a name in the zone.
    loadns::client::resolver probe({server(), 200ms, 1});
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (probe.resolve("ns1.example.com", loadns::client::record_type::a).status !=
           loadns::client::lookup_status::ok) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("nsd did not answer; log:\n" + log());
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  ~nsd_server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  nsd_server(const nsd_server&) = delete;
  nsd_server& operator=(const nsd_server&) = delete;

  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string server6() const { return "[::1]:" + std::to_string(port_); }
  std::string log() const {
    std::ifstream in(dir_ / "nsd.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::uint16_t port_;
  fs::path dir_;
  pid_t pid_ = -1;
};

nsd_server& nsd() {
  static nsd_server instance;
  return instance;
}

loadns::test::command_result resolve(std::vector<std::string> args) {
  args.insert(args.begin(), resolve_binary);
  return run_command(args, 20s);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("dash style: NONCE-NAME ADDRESS, exit 0") {
  const auto r = resolve({"--server", nsd().server(), "api.example.com"});
  CHECK(r.exit_code == 0);
  CHECK(std::regex_match(r.out, std::regex("[a-z0-9]{12}-api\\.example\\.com 192\\.0\\.2\\.10\n")));
}

TEST_CASE("label style and --nonce-length") {
  const auto r = resolve(
      {"--server", nsd().server(), "--style", "label", "--nonce-length", "20", "api.example.com"});
  CHECK(r.exit_code == 0);
  CHECK(
      std::regex_match(r.out, std::regex("[a-z0-9]{20}\\.api\\.example\\.com 192\\.0\\.2\\.11\n")));
}

TEST_CASE("--count: one fresh name per lookup, then the spread") {
  const auto r = resolve({"--server", nsd().server(), "--count", "25", "api.example.com"});
  CHECK(r.exit_code == 0);
  const auto out = lines(r.out);
  REQUIRE(out.size() == 25 + 3);
  std::set<std::string> names;
  for (std::size_t i = 0; i < 25; ++i) {
    names.insert(out[i].substr(0, out[i].find(' ')));
  }
  CHECK(names.size() == 25);
  CHECK(out[25] == "25 lookups, 25 answered, 0 failed");
  CHECK(std::regex_match(out[27], std::regex("192\\.0\\.2\\.10 +25 +100\\.0%")));
}

TEST_CASE("several records: all printed, the first counted") {
  const auto r = resolve(
      {"--server", nsd().server(), "--style", "label", "--count", "2", "multi.example.com"});
  // *.multi does not exist: NXDOMAIN for the label style, and the summary counts it.
  CHECK(r.exit_code == 3);
  CHECK(r.out.find("2 lookups, 0 answered, 2 failed") != std::string::npos);
  CHECK(r.out.find("NXDOMAIN") != std::string::npos);
  loadns::client::resolver dns({nsd().server()});
  const auto a = dns.resolve("multi.example.com", loadns::client::record_type::a);
  CHECK(a.status == loadns::client::lookup_status::ok);
  CHECK(a.addresses.size() == 2);
  CHECK(a.ttl == 60);
}

TEST_CASE("NODATA: the name exists, no AAAA") {
  const auto r = resolve({"--server", nsd().server(), "--type", "AAAA", "api.example.com"});
  CHECK(r.exit_code == 4);
  CHECK(r.out.empty());
  CHECK(r.err.find("-api.example.com NODATA") != std::string::npos);
}

TEST_CASE("AAAA answers over an IPv6 server address") {
  loadns::client::resolver dns({nsd().server6()});
  const auto a = dns.resolve("v6.example.com", loadns::client::record_type::aaaa);
  REQUIRE(a.status == loadns::client::lookup_status::ok);
  CHECK(a.addresses == std::vector<std::string>{"2001:db8::1"});
  const auto r = resolve({"--server", nsd().server6(), "--type", "aaaa", "api.example.com"});
  CHECK(r.exit_code == 4);  // wildcard has only A
}

TEST_CASE("NXDOMAIN") {
  const auto r = resolve({"--server", nsd().server(), "--style", "label", "v6.example.com"});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("NXDOMAIN") != std::string::npos);
}

TEST_CASE("REFUSED: a name under no zone of the server") {
  const auto r = resolve({"--server", nsd().server(), "api.example.org"});
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("REFUSED") != std::string::npos);
}

TEST_CASE("SERVFAIL: a zone the server could not load") {
  const auto r = resolve({"--server", nsd().server(), "api.broken.test"});
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("SERVFAIL") != std::string::npos);
}

TEST_CASE("timeout: a server that never answers, within the deadline") {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const auto start = std::chrono::steady_clock::now();
  const auto r = resolve({"--server", "127.0.0.1:" + std::to_string(ntohs(a.sin_port)), "--timeout",
                          "700ms", "api.example.com"});
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("TIMEOUT: no answer within 700 ms") != std::string::npos);
  CHECK(took >= 650ms);
  CHECK(took < 5s);
}

TEST_CASE("nothing listening: CONNREFUSED, exit 8") {
  const auto r = resolve(
      {"--server", "127.0.0.1:" + std::to_string(loadns::test::free_port()), "api.example.com"});
  CHECK(r.exit_code == 8);
  CHECK(r.err.find("CONNREFUSED") != std::string::npos);
}

TEST_CASE("usage errors exit 2 with a message") {
  const std::vector<std::vector<std::string>> cases{
      {"--type", "MX", "api.example.com"},
      {"--style", "prefix", "api.example.com"},
      {"--server", "not-an-address", "api.example.com"},
      {"--timeout", "soon", "api.example.com"},
      {"--count", "0", "api.example.com"},
      {std::string(64, 'a') + ".example.com"},
      {"api..example.com"},
      {},
  };
  for (const auto& args : cases) {
    const auto r = resolve(args);
    CAPTURE(r.err);
    CHECK(r.exit_code == 2);
    CHECK_FALSE(r.err.empty());
  }
  const auto help = resolve({"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--count") != std::string::npos);
  const auto version = resolve({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.find("loadns-resolve ") == 0);
}
