// DNS cookies (RFC 7873, RFC 9018) against the real loadns-server: round trips with BIND's
// dig, the cookie-only query (RFC 7873 5.4), malformed options, a secret file rotated without
// a restart, and interoperability with Knot DNS (knotd's mod-cookies makes RFC 9018 cookies
// too, and answers BADCOOKIE to a server cookie it does not accept: a cookie-aware server
// that reports failures). Both servers share one secret and accept each other's cookies.

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/integration/guard/guard_support.hpp"

namespace {

using namespace loadns::test;
using namespace loadns::test::guard;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* secret_a = "e5e973e5a6b2a43f48e7dc849e37bfcf";  // RFC 9018 Appendix A
constexpr const char* secret_b = "445536bcd2513298075a5d379663c962";
constexpr const char* secret_c = "dd3bdf9344b678b185a6f5cb60fca715";

/// The COOKIE dig printed last ("; COOKIE: HEX (good)"), and whether dig called it good.
struct dig_cookie {
  std::string hex;
  bool good = false;
};
dig_cookie cookie_in(const std::string& output) {
  static const std::regex line("; COOKIE: ([0-9a-f]+)( \\(good\\))?");
  dig_cookie c;
  for (auto it = std::sregex_iterator(output.begin(), output.end(), line);
       it != std::sregex_iterator(); ++it) {
    c.hex = (*it)[1];
    c.good = (*it)[2].matched;
  }
  return c;
}

/// A private directory removed at the end.
struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/loadns-cookies-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_file(const fs::path& p, const std::string& text) {
  // Written beside and renamed over: the server never reads half a file.
  const fs::path tmp = p.string() + ".new";
  std::ofstream(tmp) << text;
  fs::rename(tmp, p);
}

/// Knot DNS serving example.com with mod-cookies and `secret`, on a free loopback port.
class knot_process {
 public:
  knot_process(const fs::path& dir, const std::string& secret) : port_(free_port()) {
    write_file(dir / "example.com.zone",
               "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n"
               "@ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n");
    write_file(dir / "knot.conf",
               "server:\n  listen: 127.0.0.1@" + std::to_string(port_) + "\n  rundir: " +
                   dir.string() + "\n" + (::geteuid() == 0 ? "  user: root:root\n" : "") +
                   "database:\n  storage: " + dir.string() + "/db\n" +
                   "mod-cookies:\n  - id: shared\n    secret: 0x" + secret + "\n" +
                   "template:\n  - id: default\n    storage: " + dir.string() +
                   "\n    global-module: mod-cookies/shared\n" +
                   "zone:\n  - domain: example.com\n    file: example.com.zone\n");
    log_ = dir / "knotd.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string conf = (dir / "knot.conf").string();
      std::freopen(log_.c_str(), "w", stdout);
      std::freopen(log_.c_str(), "a", stderr);
      ::execl("/usr/sbin/knotd", "knotd", "-c", conf.c_str(), nullptr);
      ::_exit(127);
    }
  }
  ~knot_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  knot_process(const knot_process&) = delete;
  knot_process& operator=(const knot_process&) = delete;
  std::uint16_t port() const { return port_; }
  bool answering() {
    return eventually(10s, [&] {
      return dig(port_, transport::udp, "www.example.com").output.find("status: NOERROR") !=
             std::string::npos;
    });
  }

 private:
  std::uint16_t port_;
  fs::path log_;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("dig +cookie: the client cookie comes back with a server cookie, then is accepted") {
  world w({});
  const auto first = dig(w.port(), transport::udp, "www.example.com", "A", {"+cookie"});
  const auto c1 = cookie_in(first.output);
  std::printf("dig +cookie: %s\n", c1.hex.c_str());
  CHECK(first.output.find("status: NOERROR") != std::string::npos);
  REQUIRE(c1.hex.size() == 48);               // client 8 + server 16 octets (RFC 9018 4)
  CHECK(c1.good);                             // dig checked that its client cookie came back
  CHECK(c1.hex.substr(16, 8) == "01000000");  // version 1, reserved zero
  CHECK(w.metric("loadns_cookies_total{outcome=\"client_only\"}") == 1);

  // dig sending the whole cookie back, as a resolver does: valid, echoed.
  const auto second = dig(w.port(), transport::udp, "www.example.com", "A", {"+cookie=" + c1.hex});
  const auto c2 = cookie_in(second.output);
  CHECK(second.output.find("status: NOERROR") != std::string::npos);
  CHECK(c2.good);
  CHECK(c2.hex == c1.hex);
  CHECK(w.metric("loadns_cookies_total{outcome=\"valid\"}") == 1);

  // Over TCP too.
  const auto tcp = dig(w.port(), transport::tcp, "www.example.com", "A", {"+cookie=" + c1.hex});
  CHECK(cookie_in(tcp.output).good);
  CHECK(w.metric("loadns_cookies_total{outcome=\"valid\"}") == 2);

  // A server cookie that is not ours: answered, with a fresh cookie (RFC 7873 5.2.4).
  std::string forged = c1.hex;
  forged.back() = forged.back() == '0' ? '1' : '0';
  const auto third = dig(w.port(), transport::udp, "www.example.com", "A", {"+cookie=" + forged});
  CHECK(third.output.find("status: NOERROR") != std::string::npos);
  CHECK(cookie_in(third.output).hex.substr(0, 16) == c1.hex.substr(0, 16));
  CHECK(w.metric("loadns_cookies_total{outcome=\"invalid\"}") == 1);
}

TEST_CASE(
    "dig +header-only +cookie: a query with no question gets a server cookie (RFC 7873 5.4)") {
  world w({});
  const auto r = dig_args(w.port(), transport::udp, {"+header-only", "+cookie"});
  // The client cookie alone: BADCOOKIE with a server cookie; dig retries with it: NOERROR.
  CHECK(r.output.find("BADCOOKIE, retrying") != std::string::npos);
  CHECK(r.output.find("status: NOERROR") != std::string::npos);
  CHECK(r.output.find("QUERY: 0") != std::string::npos);
  CHECK(cookie_in(r.output).good);
}

TEST_CASE("a COOKIE option of a malformed length gets FORMERR (RFC 7873 5.2.2)") {
  world w({});
  const std::vector<std::uint8_t> five{1, 2, 3, 4, 5};
  const auto r = udp_exchange(w.port(), query_with_cookie("www.example.com", 9, five));
  REQUIRE(r);
  CHECK(parse_header(*r)->rcode == rcode::formerr);
  CHECK(w.metric("loadns_cookies_total{outcome=\"malformed\"}") == 1);
}

TEST_CASE("--cookie-secret-file: rotated without a restart, the previous secret still accepted") {
  temp_dir dir;
  const fs::path secret = dir.path / "cookie.secret";
  write_file(secret, std::string(secret_a) + "\n");
  world w({"--cookie-secret-file", secret.string()});
  const std::vector<std::uint8_t> cc{9, 8, 7, 6, 5, 4, 3, 2};

  auto ask = [&](std::span<const std::uint8_t> cookie) {
    const auto r = udp_exchange(w.port(), query_with_cookie("www.example.com", 1, cookie));
    REQUIRE(r);
    return response_cookie(*r);
  };
  const auto made_by_a = ask(cc);
  REQUIRE(made_by_a.size() == 24);
  CHECK(ask(made_by_a) == made_by_a);  // valid and young: echoed

  write_file(secret, std::string(secret_b) + "\n");
  REQUIRE(eventually(
      10s, [&] { return w.server->log().find("cookie secret file") != std::string::npos; }));
  // Made by the previous secret: still valid, and replaced by one made with the new secret.
  const double valid_before = w.metric("loadns_cookies_total{outcome=\"valid\"}");
  const auto made_by_b = ask(made_by_a);
  CHECK(made_by_b != made_by_a);
  CHECK(w.metric("loadns_cookies_total{outcome=\"valid\"}") == valid_before + 1);
  CHECK(ask(made_by_b) == made_by_b);

  // Another rotation: the secret before the previous one is no longer accepted.
  write_file(secret, std::string(secret_c) + "\n");
  REQUIRE(eventually(
      10s, [&] { return faults::occurrences(w.server->log(), "cookie secret file") >= 2; }));
  const double invalid_before = w.metric("loadns_cookies_total{outcome=\"invalid\"}");
  ask(made_by_a);
  CHECK(w.metric("loadns_cookies_total{outcome=\"invalid\"}") == invalid_before + 1);
}

TEST_CASE("interoperability with Knot DNS: one secret, each server accepts the other's cookies") {
  if (!fs::exists("/usr/sbin/knotd")) {
    MESSAGE("knotd (Debian package knot) not installed: skipped");
    return;
  }
  temp_dir dir;
  const fs::path secret = dir.path / "cookie.secret";
  write_file(secret, std::string(secret_a) + "\n");
  world w({"--cookie-secret-file", secret.string()});
  knot_process knot(dir.path, secret_a);
  REQUIRE(knot.answering());

  // Knot answers a client cookie alone with BADCOOKIE and its server cookie; dig retries.
  const auto from_knot = dig(knot.port(), transport::udp, "www.example.com", "A", {"+cookie"});
  const auto k = cookie_in(from_knot.output);
  REQUIRE(k.hex.size() == 48);
  // That cookie, from the same address (127.0.0.1), to loadns: valid.
  const auto to_loadns =
      dig(w.port(), transport::udp, "www.example.com", "A", {"+cookie=" + k.hex});
  CHECK(to_loadns.output.find("status: NOERROR") != std::string::npos);
  CHECK(w.metric("loadns_cookies_total{outcome=\"valid\"}") == 1);

  // loadns's cookie to Knot: accepted at once, no BADCOOKIE (which Knot sends for a server
  // cookie it cannot verify; the control below shows it).
  const auto l =
      cookie_in(dig(w.port(), transport::udp, "www.example.com", "A", {"+cookie"}).output);
  REQUIRE(l.hex.size() == 48);
  const auto to_knot =
      dig(knot.port(), transport::udp, "www.example.com", "A", {"+cookie=" + l.hex});
  CHECK(to_knot.output.find("BADCOOKIE") == std::string::npos);
  CHECK(to_knot.output.find("status: NOERROR") != std::string::npos);
  std::string forged = l.hex;
  forged.back() = forged.back() == '0' ? '1' : '0';
  const auto control =
      dig(knot.port(), transport::udp, "www.example.com", "A", {"+cookie=" + forged});
  CHECK(control.output.find("BADCOOKIE") != std::string::npos);
  std::printf(
      "knot interop: knot's cookie %s valid at loadns; loadns's cookie %s accepted by "
      "knotd; a forged one gets BADCOOKIE from knotd\n",
      k.hex.c_str(), l.hex.c_str());
}

TEST_CASE("Knot's kdig as the client: loadns's cookie parsed, sent back and accepted") {
  // kdig parses a reply's COOKIE with libknot (knot_edns_cookie_parse: 8 octets of client
  // cookie, 8 to 32 of server cookie) and prints it; it reports a BADCOOKIE answer without a
  // cookie as an error. It does not judge the server cookie itself, so this checks the
  // format and the round trip through another implementation's client code; knotd (above)
  // checks the hash.
  if (!fs::exists("/usr/bin/kdig")) {
    MESSAGE("kdig (Debian package knot-dnsutils) not installed: skipped");
    return;
  }
  world w({});
  const std::string cc = "0102030405060708";
  auto kdig = [&](const std::string& cookie) {
    const auto run =
        run_command({"/usr/bin/kdig", "@127.0.0.1", "-p", std::to_string(w.port()), "+norec",
                     "+retry=0", "+timeout=2", "+cookie=" + cookie, "www.example.com", "A"},
                    30s);
    return run.out + run.err;
  };
  static const std::regex cookie_line(";; COOKIE: ([0-9a-fA-F]+)");
  auto cookie_of = [&](const std::string& out) {
    std::smatch m;
    std::string hex = std::regex_search(out, m, cookie_line) ? std::string(m[1]) : std::string();
    for (char& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return hex;
  };
  const std::string first = kdig(cc);
  const std::string c1 = cookie_of(first);
  std::printf("kdig +cookie=%s: COOKIE %s\n", cc.c_str(), c1.c_str());
  CHECK(first.find("status: NOERROR") != std::string::npos);
  CHECK(first.find(";; ERROR") == std::string::npos);
  REQUIRE(c1.size() == 48);
  CHECK(c1.substr(0, 16) == cc);          // its client cookie came back
  CHECK(c1.substr(16, 8) == "01000000");  // version 1, Reserved zero (RFC 9018 4)
  CHECK(w.metric("loadns_cookies_total{outcome=\"client_only\"}") == 1);

  // kdig sends the whole cookie back, as a resolver would: valid, and echoed.
  const std::string second = kdig(c1);
  CHECK(second.find("status: NOERROR") != std::string::npos);
  CHECK(cookie_of(second) == c1);
  CHECK(second.find("bad cookie") == std::string::npos);
  CHECK(w.metric("loadns_cookies_total{outcome=\"valid\"}") == 1);
}
