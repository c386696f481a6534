// loadns-demo: the two small programs the demo (scripts/demo) and docker-compose need.
//   loadns-demo listen ADDR:PORT...    a TCP echo server that holds every connection open,
//                                       the stand-in for a WebSocket or MQTT backend
//   loadns-demo connect ... NAME       opens long-lived connections the way a loadns client
//                                       does: a fresh nonce name per connection, resolve,
//                                       connect to the answer, keep the connection
// Both run until SIGINT/SIGTERM (connect: or until --hold has passed).

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "client/endpoint.hpp"
#include "client/nonce.hpp"
#include "client/resolver.hpp"
#include "client/spread.hpp"
#include "common/duration.hpp"

namespace {

using namespace loadns::client;
using std::chrono::steady_clock;

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) {
  stop_requested = 1;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns EINTR and the loop looks at the flag
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;  // a peer that went away is an EPIPE, not a crash
  ::sigaction(SIGPIPE, &ignore, nullptr);
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::generic_category().message(errno));
}

int open_listener(const endpoint& at) {
  const int fd = ::socket(at.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail("socket");
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&at.address), at.length) != 0) {
    fail("bind " + to_string(at));
  }
  if (::listen(fd, SOMAXCONN) != 0) {
    fail("listen " + to_string(at));
  }
  return fd;
}

// Echo server. Listening sockets come first in `fds`; a connection is closed on EOF or error.
// Echo is best effort: a reply that would block is dropped, which is fine for a demo peer.
int run_listen(const std::vector<std::string>& addresses, std::size_t max_connections, bool quiet) {
  std::vector<pollfd> fds;
  for (const auto& text : addresses) {
    const auto at = parse_endpoint(text);
    if (!at) {
      throw std::invalid_argument("bad address '" + text + "': expected IP:PORT");
    }
    fds.push_back({open_listener(*at), POLLIN, 0});
    if (!quiet) {
      fmt::print("listening on {}\n", to_string(*at));
    }
  }
  std::fflush(stdout);
  const std::size_t listeners = fds.size();
  char buffer[4096];
  while (stop_requested == 0) {
    const int rc = ::poll(fds.data(), fds.size(), 500);
    if (rc < 0 && errno != EINTR) {
      fail("poll");
    }
    if (rc <= 0) {
      continue;
    }
    std::size_t open_before = fds.size() - listeners;
    for (std::size_t i = listeners; i < fds.size(); ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      const ssize_t n = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        (void)::send(fds[i].fd, buffer, static_cast<std::size_t>(n), MSG_DONTWAIT);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        continue;
      }
      ::close(fds[i].fd);
      fds[i].fd = -1;
    }
    std::erase_if(fds, [](const pollfd& p) { return p.fd < 0; });
    for (std::size_t i = 0; i < listeners; ++i) {
      if ((fds[i].revents & POLLIN) == 0) {
        continue;
      }
      for (;;) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        const int c = ::accept4(fds[i].fd, reinterpret_cast<sockaddr*>(&peer), &len,
                                SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
          break;  // EAGAIN: drained; EMFILE and friends: try on the next wakeup
        }
        if (fds.size() - listeners >= max_connections) {
          ::close(c);
          continue;
        }
        fds.push_back({c, POLLIN, 0});
      }
    }
    for (auto& p : fds) {
      p.revents = 0;
    }
    const std::size_t open_now = fds.size() - listeners;
    if (!quiet && open_now != open_before) {
      fmt::print("{} connections open\n", open_now);
      std::fflush(stdout);
    }
  }
  for (const auto& p : fds) {
    ::close(p.fd);
  }
  return 0;
}

// Connects with a deadline and checks the peer echoes: a connection that is really up.
bool open_connection(const endpoint& to, std::chrono::milliseconds timeout, int& out,
                     std::string& error) {
  const int fd = ::socket(to.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::generic_category().message(errno);
    return false;
  }
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  // On Linux SO_SNDTIMEO bounds connect() too.
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  constexpr char hello[] = "hello loadns\n";
  char reply[sizeof hello] = {};
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to.address), to.length) != 0 ||
      ::send(fd, hello, sizeof hello - 1, 0) != static_cast<ssize_t>(sizeof hello - 1) ||
      ::recv(fd, reply, sizeof hello - 1, MSG_WAITALL) != static_cast<ssize_t>(sizeof hello - 1)) {
    error = errno ? std::generic_category().message(errno) : "no echo";
    ::close(fd);
    return false;
  }
  out = fd;
  return true;
}

struct connect_options {
  std::string server;
  std::string direct;
  std::uint16_t port = 7000;
  std::size_t connections = 10;
  std::chrono::milliseconds interval{100};
  std::chrono::milliseconds hold{0};
  std::chrono::milliseconds timeout{2000};
  nonce_style style = nonce_style::dash;
  record_type type = record_type::a;
  std::string name;
};

int run_connect(const connect_options& o) {
  std::vector<int> open;
  spread tally;
  std::optional<resolver> dns;
  if (o.direct.empty()) {
    dns.emplace(resolver_options{o.server, o.timeout});
  }
  const auto direct = o.direct.empty() ? std::nullopt : parse_endpoint(o.direct, o.port);
  if (!o.direct.empty() && !direct) {
    throw std::invalid_argument("bad --to '" + o.direct + "': expected IP[:PORT]");
  }
  std::string nonce_name;
  int status = 0;
  for (std::size_t i = 0; i < o.connections && stop_requested == 0; ++i) {
    if (i > 0) {
      std::this_thread::sleep_for(o.interval);
    }
    std::optional<endpoint> to = direct;
    std::string label = o.direct;
    if (!direct) {
      if (const auto ec = make_nonce_name(o.name, o.style, nonce_name)) {
        throw std::invalid_argument("cannot make a nonce name from '" + o.name +
                                    "': " + ec.message());
      }
      const auto result = dns->resolve(nonce_name, o.type);
      if (result.status != lookup_status::ok) {
        fmt::print("{} {}: {}\n", nonce_name, to_string(result.status), result.detail);
        tally.add_failure(result.status);
        status = 1;
        continue;
      }
      to = make_endpoint(result.addresses.front(), o.port);
      label = nonce_name;
    }
    int fd = -1;
    std::string error;
    if (!to || !open_connection(*to, o.timeout, fd, error)) {
      fmt::print("{} -> {} connect failed: {}\n", label, to ? to_string(*to) : "?", error);
      tally.add_failure(lookup_status::error);
      status = 1;
      continue;
    }
    open.push_back(fd);
    const auto where = to_string(*to);
    tally.add_answer(where.substr(0, where.rfind(':')));
    fmt::print("{} -> {} connected ({} open)\n", label, where, open.size());
    std::fflush(stdout);
  }
  fmt::print("{}", tally.format());
  std::fflush(stdout);
  // Hold the connections: they are the long-lived load the agents count.
  const auto until = steady_clock::now() + o.hold;
  while (stop_requested == 0 && (o.hold.count() == 0 || steady_clock::now() < until)) {
    ::poll(nullptr, 0, 200);
  }
  for (const int fd : open) {
    ::close(fd);
  }
  return status;
}

std::chrono::milliseconds duration_or_throw(const std::string& flag, const std::string& text) {
  const auto d = loadns::parse_duration(text);
  if (!d) {
    throw std::invalid_argument(flag + " '" + text + "' is not a duration like 2s");
  }
  return *d;
}

}  // namespace

static int run(int argc, char** argv) {
  CLI::App app{"Demo peers for loadns: an echo backend and a client that holds connections.",
               "loadns-demo"};
  app.set_version_flag("--version", std::string("loadns-demo ") + LOADNS_VERSION);
  app.require_subcommand(1);

  auto* listen = app.add_subcommand("listen", "TCP echo server holding every connection");
  std::vector<std::string> addresses;
  std::size_t max_connections = 10'000;
  bool quiet = false;
  listen->add_option("ADDR:PORT", addresses, "Where to listen, e.g. 127.0.0.2:7000")->required();
  listen->add_option("--max-connections", max_connections, "Close connections beyond this")
      ->capture_default_str();
  listen->add_flag("--quiet", quiet, "Do not print the open connection count");

  auto* connect = app.add_subcommand(
      "connect", "Open connections to NAME, each through a fresh nonce lookup, and hold them");
  connect_options co;
  std::string interval = "100ms", hold = "0", timeout = "2s", style = "dash", type = "A";
  connect->add_option("--server", co.server, "DNS server IP[:PORT]; default: system resolvers");
  connect->add_option("--to", co.direct,
                      "Connect to IP[:PORT] directly, without DNS (to preload a backend)");
  connect->add_option("--port", co.port, "TCP port of the service")->capture_default_str();
  connect->add_option("--connections", co.connections, "Connections to open")
      ->capture_default_str();
  connect->add_option("--interval", interval, "Pause between connections")->capture_default_str();
  connect->add_option("--hold", hold, "Close everything after this long; 0: until a signal")
      ->capture_default_str();
  connect->add_option("--timeout", timeout, "Deadline per lookup and per connect")
      ->capture_default_str();
  connect->add_option("--style", style, "Nonce style: dash or label")->capture_default_str();
  connect->add_option("--type", type, "A or AAAA")->capture_default_str();
  connect->add_option("NAME", co.name, "The balanced name, e.g. api.example.com");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    install_signal_handlers();
    if (*listen) {
      return run_listen(addresses, max_connections, quiet);
    }
    co.interval = duration_or_throw("--interval", interval);
    co.hold = duration_or_throw("--hold", hold);
    co.timeout = duration_or_throw("--timeout", timeout);
    if (!parse_nonce_style(style, co.style)) {
      throw std::invalid_argument("bad --style " + style);
    }
    if (!parse_record_type(type, co.type)) {
      throw std::invalid_argument("bad --type " + type);
    }
    if (co.direct.empty() && co.name.empty()) {
      throw std::invalid_argument("connect needs NAME (or --to IP[:PORT])");
    }
    return run_connect(co);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "loadns-demo: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "loadns-demo: {}\n", e.what());
    return 1;
  }
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "loadns-demo: {}\n", e.what());
    return 1;
  }
}
