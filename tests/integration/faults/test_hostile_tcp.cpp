// Hostile TCP clients against the real loadns-server (RFC 7766 6.2.3, 10: a server must not let
// slow or silent clients hold it): connections that never send, that trickle a query one byte
// at a time, that stop after a length prefix, that never read their answers, each closed by
// the server within its deadline while good queries over UDP and TCP keep being answered; at
// --tcp-max-connections, the least recently active idle connection makes room for a newcomer,
// and only when every connection is busy is the newcomer refused; out of descriptors, accepts
// pause instead of spinning.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/faults/fault_support.hpp"

namespace {

using namespace loadns::test;
using namespace loadns::test::faults;

/// A seeded database and a server on it with `extra` flags and `threads` worker threads.
struct world {
  pg_cluster pg;
  std::unique_ptr<server_process> server;
  explicit world(std::vector<std::string> extra, int threads = 2) {
    pg.create_loadns_database();
    pg.psql(seed_sql);
    auto o = server_options_for(pg.conninfo("loadns", "server"));
    o.extra_args = std::move(extra);
    o.threads = threads;
    server = std::make_unique<server_process>(o);
  }
};

enum class kind { silent, trickle_1s, trickle_250ms, prefix_only, never_reads };

const char* name_of(kind k) {
  switch (k) {
    case kind::silent:
      return "never sends";
    case kind::trickle_1s:
      return "one byte a second";
    case kind::trickle_250ms:
      return "one byte per 250 ms";
    case kind::prefix_only:
      return "length prefix then nothing";
    case kind::never_reads:
      return "pipelines queries, never reads";
  }
  return "?";
}

/// One hostile connection, non-blocking, driven by the test's poll loop.
struct hostile {
  kind k = kind::silent;
  int fd = -1;
  steady::time_point opened;
  std::optional<double> closed_after;  ///< seconds from connect to the server's close
  std::vector<std::uint8_t> bytes;     ///< what it means to send (a framed query, or more)
  std::size_t sent = 0;
  steady::time_point next_send;
};

int connect_nonblocking(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE_MESSAGE(::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0,
                  "connect: ", std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

std::vector<std::uint8_t> framed_query(std::uint16_t id) {
  query_spec q;
  q.id = id;
  q.name = "api.example.com";
  const auto msg = make_query(q);
  std::vector<std::uint8_t> out{static_cast<std::uint8_t>(msg.size() >> 8),
                                static_cast<std::uint8_t>(msg.size() & 0xff)};
  out.insert(out.end(), msg.begin(), msg.end());
  return out;
}

/// Drives `conns` until every one is closed by the server or `deadline` passes: sends what
/// each kind sends when it is due, and notes when the server closed it (EOF, reset, or a
/// failed write).
void drive(std::vector<hostile>& conns, steady::time_point deadline) {
  for (;;) {
    const auto now = steady::now();
    std::vector<pollfd> fds;
    std::vector<hostile*> who;
    auto wake = now + 50ms;
    for (auto& h : conns) {
      if (h.closed_after) continue;
      short events = POLLIN | POLLRDHUP;
      if (h.k == kind::never_reads && h.sent < h.bytes.size()) events |= POLLOUT;
      fds.push_back(pollfd{h.fd, events, 0});
      who.push_back(&h);
      if ((h.k == kind::trickle_1s || h.k == kind::trickle_250ms) && h.sent < h.bytes.size())
        wake = std::min(wake, h.next_send);
    }
    if (fds.empty() || now >= deadline) return;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
    ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(wait, 0)));
    for (std::size_t i = 0; i < fds.size(); ++i) {
      hostile& h = *who[i];
      auto mark_closed = [&] { h.closed_after = seconds_since(h.opened); };
      const auto re = fds[i].revents;
      if ((re & (POLLERR | POLLHUP | POLLRDHUP)) != 0) {
        mark_closed();
        continue;
      }
      if ((re & POLLIN) != 0) {
        // Hostile kinds other than never_reads have sent no complete query: any readable
        // event is the close. never_reads does not read, so it never gets here but by close.
        std::uint8_t b[512];
        const auto n = ::recv(h.fd, b, sizeof b, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
          mark_closed();
          continue;
        }
      }
      const bool trickles = h.k == kind::trickle_1s || h.k == kind::trickle_250ms;
      if (trickles && h.sent < h.bytes.size() && steady::now() >= h.next_send) {
        if (::send(h.fd, h.bytes.data() + h.sent, 1, MSG_NOSIGNAL) != 1) {
          mark_closed();
          continue;
        }
        ++h.sent;
        h.next_send += h.k == kind::trickle_1s ? 1000ms : 250ms;
      }
      if (h.k == kind::never_reads && (re & POLLOUT) != 0 && h.sent < h.bytes.size()) {
        const auto n = ::send(h.fd, h.bytes.data() + h.sent, h.bytes.size() - h.sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) {
          mark_closed();
          continue;
        }
        if (n > 0) h.sent += static_cast<std::size_t>(n);
      }
    }
  }
}

struct close_times {
  double min = 1e9, max = 0, sum = 0;
  int n = 0, open = 0;
};

}  // namespace

TEST_CASE(
    "silent and trickling and half-framed and non-reading TCP clients are closed by the "
    "deadline while good queries are answered") {
  world w({"--tcp-idle-timeout", "1s", "--tcp-max-connections", "1024"});
  const auto port = w.server->port();
  const auto timeouts_before = metric(w.server->metrics_port(), "loadns_tcp_timeouts_total");
  REQUIRE(timeouts_before.has_value());

  query_load udp_load(port, "api.example.com", transport::udp, 5ms);
  query_load tcp_load(port, "api.example.com", transport::tcp, 20ms);

  const std::map<kind, int> plan{{kind::silent, 20},
                                 {kind::trickle_1s, 5},
                                 {kind::trickle_250ms, 5},
                                 {kind::prefix_only, 10},
                                 {kind::never_reads, 2}};
  std::vector<hostile> conns;
  std::uint16_t id = 0x7000;
  for (const auto& [k, count] : plan) {
    for (int i = 0; i < count; ++i) {
      hostile h;
      h.k = k;
      h.fd = connect_nonblocking(port);
      h.opened = steady::now();
      h.next_send = h.opened;
      if (k == kind::trickle_1s || k == kind::trickle_250ms) h.bytes = framed_query(id++);
      if (k == kind::prefix_only) {
        const auto q = framed_query(id++);
        REQUIRE(::send(h.fd, q.data(), 2, MSG_NOSIGNAL) == 2);
        h.sent = 2;
      }
      if (k == kind::never_reads) {
        // 4 MB of pipelined queries (~130,000): more than the socket buffers hold, so the
        // server's writes block on a peer that never reads.
        for (int j = 0; h.bytes.size() < (4u << 20); ++j) {
          const auto q = framed_query(static_cast<std::uint16_t>(j));
          h.bytes.insert(h.bytes.end(), q.begin(), q.end());
        }
      }
      conns.push_back(std::move(h));
    }
  }

  drive(conns, steady::now() + 15s);

  std::map<kind, close_times> by_kind;
  for (auto& h : conns) {
    auto& t = by_kind[h.k];
    if (!h.closed_after) {
      ++t.open;
    } else {
      t.min = std::min(t.min, *h.closed_after);
      t.max = std::max(t.max, *h.closed_after);
      t.sum += *h.closed_after;
      ++t.n;
    }
    ::close(h.fd);
  }
  udp_load.stop();
  tcp_load.stop();
  const auto udp = udp_load.counts();
  const auto tcp = tcp_load.counts();

  std::printf("hostile TCP clients vs --tcp-idle-timeout 1s (seconds from connect to close):\n");
  for (const auto& [k, t] : by_kind) {
    std::printf("  %-32s %2d closed  min %.2f  mean %.2f  max %.2f  still open %d\n", name_of(k),
                t.n, t.n ? t.min : 0.0, t.n ? t.sum / t.n : 0.0, t.max, t.open);
  }
  std::printf(
      "good queries meanwhile: UDP %llu of %llu answered (longest gap %lld ms), "
      "TCP %llu of %llu answered (longest gap %lld ms)\n",
      static_cast<unsigned long long>(udp.answered), static_cast<unsigned long long>(udp.sent),
      static_cast<long long>(udp.longest_gap.count()),
      static_cast<unsigned long long>(tcp.answered), static_cast<unsigned long long>(tcp.sent),
      static_cast<long long>(tcp.longest_gap.count()));

  for (const auto& [k, t] : by_kind) {
    INFO(name_of(k));
    CHECK(t.open == 0);
    if (k == kind::never_reads) {
      // It first gets answers until its receive buffer is full; then the blocked write is
      // cut by the deadline.
      CHECK(t.max < 8.0);
    } else {
      // Closed by the deadline: not before it, and not long after (loaded 2-core machine).
      CHECK(t.min >= 0.9);
      CHECK(t.max <= 2.5);
    }
  }
  CHECK(udp.sent > 100);
  CHECK(udp.failed == 0);
  CHECK(tcp.sent > 20);
  CHECK(tcp.failed == 0);
  const auto timeouts_after = metric(w.server->metrics_port(), "loadns_tcp_timeouts_total");
  REQUIRE(timeouts_after.has_value());
  std::printf("loadns_tcp_timeouts_total moved by %.0f\n", *timeouts_after - *timeouts_before);
  CHECK(*timeouts_after - *timeouts_before >= static_cast<double>(conns.size()));
  CHECK(w.server->running());
}

namespace {

/// Whether the server closed `fd` (EOF or reset) within `within`; reads nothing else.
bool sees_close(int fd, std::chrono::milliseconds within) {
  const auto deadline = steady::now() + within;
  for (;;) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long>(left, 0))) > 0) {
      if ((p.revents & (POLLERR | POLLHUP | POLLRDHUP)) != 0) return true;
      std::uint8_t b;
      const auto n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
    }
    if (steady::now() >= deadline) return false;
  }
}

/// Bytes the kernel holds unread on the server's side of established IPv4 connections to
/// `port` (the rx_queue column of /proc/net/tcp), and how many such connections there are.
struct unread {
  std::uint64_t bytes = 0;
  int connections = 0;
};
unread server_unread(std::uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the column titles
  unread u;
  char local_port_hex[8];
  std::snprintf(local_port_hex, sizeof local_port_hex, "%04X", port);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state, queues;
    f >> slot >> local >> remote >> state >> queues;
    if (state != "01" || local.substr(local.find(':') + 1) != local_port_hex) continue;
    ++u.connections;
    u.bytes += std::stoull(queues.substr(queues.find(':') + 1), nullptr, 16);
  }
  return u;
}

bool is_answer_to(const std::optional<std::vector<std::uint8_t>>& reply, std::uint16_t id) {
  if (!reply) return false;
  const auto h = parse_header(*reply);
  return h && h->id == id && h->rcode == rcode::noerror && h->ancount > 0;
}

/// A server capped at `cap` TCP connections, with an idle timeout longer than any of these
/// tests, and its eviction and refusal counters as they were before the test, so that a
/// test checks what it caused.
struct capped_server {
  static constexpr int cap = 20;
  world w;
  std::uint16_t port;
  std::uint16_t mport;
  double evicted_before = 0;
  double rejected_before = 0;

  explicit capped_server(int threads)
      : w({"--tcp-idle-timeout", "30s", "--tcp-max-connections", std::to_string(cap),
           // Held partial queries here must stay held: no frame deadline, no early eviction.
           "--tcp-frame-timeout", "30s"},
          threads),
        port(w.server->port()),
        mport(w.server->metrics_port()) {
    evicted_before = counter("loadns_tcp_evicted_total");
    rejected_before = counter("loadns_tcp_rejected_total");
  }
  /// Opens `cap` connections that send nothing and waits until the server holds them all.
  std::vector<std::unique_ptr<tcp_client>> fill_with_idle() const {
    std::vector<std::unique_ptr<tcp_client>> idle;
    for (int i = 0; i < cap; ++i) idle.push_back(std::make_unique<tcp_client>(port));
    REQUIRE(eventually(5s, [&] { return metric(mport, "loadns_tcp_connections") == cap; }));
    return idle;
  }
  /// Idle connections closed to make room, and newcomers refused, since the start.
  double evicted() const { return counter("loadns_tcp_evicted_total") - evicted_before; }
  double rejected() const { return counter("loadns_tcp_rejected_total") - rejected_before; }

 private:
  double counter(std::string_view series) const {
    const auto v = metric(mport, series);
    REQUIRE(v.has_value());
    return *v;
  }
};

}  // namespace

TEST_CASE(
    "at --tcp-max-connections a new client is answered: the least recently active idle "
    "connection is closed to make room (RFC 7766 6.2.3)") {
  capped_server s(1);
  const auto cap = capped_server::cap;
  const auto port = s.port;

  auto idle = s.fill_with_idle();
  // The first connected becomes the most recently active: it asks and gets its answer. The
  // least recently active idle one is now the second.
  REQUIRE(idle[0]->send_message(make_query(query_spec{.id = 0x0100, .name = "api.example.com"})));
  REQUIRE(is_answer_to(idle[0]->read_message(), 0x0100));

  const auto t0 = steady::now();
  const auto reply = exchange(port, transport::tcp,
                              make_query(query_spec{.id = 0x0200, .name = "api.example.com"}), 2s);
  const double answered_after = seconds_since(t0);
  const bool second_closed = sees_close(idle[1]->fd(), 2s);
  int others_closed = 0;
  for (int i = 0; i < cap; ++i) {
    if (i != 1 && sees_close(idle[static_cast<std::size_t>(i)]->fd(), 0ms)) ++others_closed;
  }
  const double evicted = s.evicted();
  const double rejected = s.rejected();
  // The survivors still work: the first one asks again.
  REQUIRE(idle[0]->send_message(make_query(query_spec{.id = 0x0101, .name = "api.example.com"})));
  const bool first_still_answered = is_answer_to(idle[0]->read_message(), 0x0101);

  std::printf(
      "cap %d, %d idle connections: client %d answered in %.1f ms; least recently active idle "
      "connection closed: %s; others closed: %d; loadns_tcp_evicted_total +%.0f, "
      "loadns_tcp_rejected_total +%.0f\n",
      cap, cap, cap + 1, 1000 * answered_after, second_closed ? "yes" : "no", others_closed,
      evicted, rejected);
  CHECK(is_answer_to(reply, 0x0200));
  CHECK(answered_after < 1.0);
  CHECK(second_closed);
  CHECK(others_closed == 0);
  CHECK(evicted == 1);
  CHECK(rejected == 0);
  CHECK(first_still_answered);
  CHECK(s.w.server->running());
}

TEST_CASE(
    "at --tcp-max-connections with two threads a new client is answered: its thread closes "
    "one of its own idle connections") {
  capped_server s(2);
  const auto cap = capped_server::cap;
  const auto port = s.port;

  auto idle = s.fill_with_idle();
  const auto t0 = steady::now();
  const auto reply = exchange(port, transport::tcp,
                              make_query(query_spec{.id = 0x0300, .name = "api.example.com"}), 2s);
  const double answered_after = seconds_since(t0);
  // SO_REUSEPORT put the newcomer on either thread; each thread holds about half the idle
  // connections (all 20 on the other thread has odds of 2^-20).
  bool one_closed = eventually(2s, [&] {
    return std::any_of(idle.begin(), idle.end(),
                       [](const auto& c) { return sees_close(c->fd(), 0ms); });
  });
  int closed = 0;
  for (const auto& c : idle) closed += sees_close(c->fd(), 0ms) ? 1 : 0;
  const double evicted = s.evicted();
  std::printf("two threads, cap %d: client %d answered in %.1f ms, %d idle connection(s) closed\n",
              cap, cap + 1, 1000 * answered_after, closed);
  CHECK(is_answer_to(reply, 0x0300));
  CHECK(one_closed);
  CHECK(closed == 1);
  CHECK(evicted == 1);
}

TEST_CASE(
    "at --tcp-max-connections with every connection in the middle of a query a new client is "
    "refused at once, UDP is answered throughout and the held queries are answered after") {
  capped_server s(1);
  const auto cap = capped_server::cap;
  const auto port = s.port;
  const auto mport = s.mport;

  query_load udp_load(port, "api.example.com", transport::udp, 5ms);
  std::vector<std::unique_ptr<tcp_client>> busy;
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < cap; ++i) {
    busy.push_back(std::make_unique<tcp_client>(port));
    frames.push_back(framed_query(static_cast<std::uint16_t>(0x0400 + i)));
    // Only the length prefix: the server holds a partial query, so the session is not idle.
    REQUIRE(busy.back()->send_raw(std::span(frames.back()).first(2)));
  }
  // The server has read every prefix: all connections accepted and nothing left unread.
  REQUIRE(eventually(5s, [&] {
    const auto u = server_unread(port);
    return u.connections == cap && u.bytes == 0 && metric(mport, "loadns_tcp_connections") == cap;
  }));

  const auto t0 = steady::now();
  const auto during = exchange(port, transport::tcp, make_query(query_spec{}), 2s);
  const double refused_after = seconds_since(t0);
  int closed = 0;
  for (const auto& c : busy) closed += sees_close(c->fd(), 0ms) ? 1 : 0;
  const double evicted = s.evicted();
  const double rejected = s.rejected();

  // The held queries complete and are answered: nothing of them was lost.
  int answered = 0;
  for (std::size_t i = 0; i < busy.size(); ++i) {
    if (!busy[i]->send_raw(std::span(frames[i]).subspan(2))) continue;
    answered +=
        is_answer_to(busy[i]->read_message(), static_cast<std::uint16_t>(0x0400 + i)) ? 1 : 0;
  }
  // Now idle, they make room for the next newcomer.
  const bool next_answered =
      is_answer_to(exchange(port, transport::tcp,
                            make_query(query_spec{.id = 0x0500, .name = "api.example.com"}), 2s),
                   0x0500);
  udp_load.stop();
  const auto udp = udp_load.counts();

  std::printf(
      "cap %d, %d connections each holding a length prefix: client %d %s after %.1f ms; held "
      "connections closed %d; loadns_tcp_rejected_total +%.0f, loadns_tcp_evicted_total +%.0f; "
      "held queries answered afterwards %d; the next client once they were idle: %s; UDP %llu of "
      "%llu answered\n",
      cap, cap, cap + 1, during ? "answered" : "closed unanswered", 1000 * refused_after, closed,
      rejected, evicted, answered, next_answered ? "answered" : "not answered",
      static_cast<unsigned long long>(udp.answered), static_cast<unsigned long long>(udp.sent));
  CHECK(!during.has_value());
  CHECK(refused_after < 1.0);  // closed at accept, not left to time out
  CHECK(closed == 0);
  CHECK(rejected == 1);
  CHECK(evicted == 0);
  CHECK(answered == cap);
  CHECK(next_answered);
  CHECK(udp.sent > 0);
  CHECK(udp.failed == 0);
  CHECK(s.w.server->running());
}

namespace {

/// CPU seconds (user + system) a process has used.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// Descriptors a process holds now.
std::size_t open_descriptors(pid_t pid) {
  const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    ++n;
  return n;
}

}  // namespace

TEST_CASE(
    "out of file descriptors the server pauses accepting instead of spinning and "
    "accepts again once sessions end") {
  pg_cluster pg;
  pg.create_loadns_database();
  pg.psql(seed_sql);
  auto o = server_options_for(pg.conninfo("loadns", "server"));
  // All from 127.0.0.1: no per-source cap, so that the descriptors run out first.
  o.extra_args = {"--tcp-idle-timeout",   "2s", "--tcp-max-connections", "1024",
                  "--tcp-max-per-source", "0"};
  auto server = std::make_unique<server_process>(o);
  // The server raises its soft RLIMIT_NOFILE to the hard limit at startup, so a low limit
  // inherited from here would be gone by the time it listens. Lower the running server's soft
  // limit instead (prlimit(2), as `prlimit --pid` does): 128 descriptors, far below its
  // connection cap, with the ~20 it holds already (sockets, event loops, database, log).
  rlimit raised{};
  REQUIRE(::prlimit(server->pid(), RLIMIT_NOFILE, nullptr, &raised) == 0);
  CHECK(raised.rlim_cur == raised.rlim_max);
  const auto open_at_start = open_descriptors(server->pid());
  rlimit low = raised;
  low.rlim_cur = 128;
  REQUIRE(::prlimit(server->pid(), RLIMIT_NOFILE, &low, nullptr) == 0);
  INFO("descriptors open before the limit was lowered: ", open_at_start);
  REQUIRE(open_at_start < 100);
  const auto port = server->port();

  query_load udp_load(port, "api.example.com", transport::udp, 5ms);
  constexpr int squatters = 200;
  std::vector<hostile> conns;
  for (int i = 0; i < squatters; ++i) {
    hostile h;
    h.fd = connect_nonblocking(port);  // the kernel completes them: the backlog holds the rest
    h.opened = steady::now();
    conns.push_back(std::move(h));
  }
  // While the accepted ones hold every descriptor, the rest wait in the backlog.
  const bool starved =
      eventually(5s, [&] { return server->log().find("pausing accepts") != std::string::npos; });
  const double cpu0 = cpu_seconds(server->pid());
  const auto t0 = steady::now();
  drive(conns, steady::now() + 1500ms);
  const double cpu_share = (cpu_seconds(server->pid()) - cpu0) / seconds_since(t0);
  // Then the idle timeout frees descriptors and the queued connections get their turn.
  drive(conns, steady::now() + 10s);
  int still_open = 0;
  for (auto& h : conns) {
    if (!h.closed_after) ++still_open;
    ::close(h.fd);
  }
  const bool tcp_back = eventually(5s, [&] {
    try {
      return exchange(port, transport::tcp, make_query(query_spec{}), 500ms).has_value();
    } catch (const std::exception&) {
      return false;
    }
  });
  udp_load.stop();
  const auto udp = udp_load.counts();
  std::printf(
      "RLIMIT_NOFILE 128 (%zu open before), %d connections: accept paused: %s; server CPU while "
      "starved "
      "%.1f%% of a core; %d left open after the idle timeouts; TCP answered again: %s; "
      "UDP %llu of %llu answered\n",
      open_at_start, squatters, starved ? "yes" : "no", 100 * cpu_share, still_open,
      tcp_back ? "yes" : "no", static_cast<unsigned long long>(udp.answered),
      static_cast<unsigned long long>(udp.sent));
  CHECK_MESSAGE(starved, server->log_tail());
  CHECK(cpu_share < 0.25);  // it spun at a full core before
  CHECK(still_open == 0);
  CHECK(tcp_back);
  CHECK(server->log().find("tcp accepts resumed") != std::string::npos);
  CHECK(udp.failed == 0);
  CHECK(server->running());
}
