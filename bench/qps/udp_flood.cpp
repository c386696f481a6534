// udp_flood: a closed-loop UDP DNS load generator that batches with sendmmsg/recvmmsg, for
// bench/qps/run's saturation case.
//
// dnsperf sends and receives one datagram per system call, so on one core it tops out near
// 100,000 queries per second, below what NSD, gdnsd or loadns answer on one core: its UDP
// figures then measure dnsperf. This generator keeps --window queries in flight on each of
// --sockets sockets, sends and receives up to 64 datagrams per call, and so drives a
// one-core server to saturation from one core. It reports answered queries per second,
// queries lost (no answer within --timeout-ms), and answers by rcode.
//
//   udp_flood --server 127.0.0.1:PORT --queries FILE [--duration 10] [--sockets 8]
//             [--window 64] [--timeout-ms 1000] [--cookie HEX]
// --cookie HEX (16 hex digits) sends every query with EDNS (RFC 6891) and a COOKIE option
// holding that client cookie (RFC 7873 4.1), as dnsperf's `-E 10:HEX` does.
// FILE holds one query per line as dnsperf reads it: "NAME TYPE" (A, AAAA, ...).
// Output, one line each: "sent N", "completed N", "lost N", "qps X", "rcodes NOERROR=N ...".

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::size_t batch = 64;
constexpr std::size_t max_packet = 512;

/// A query in wire form (RFC 1035 4.1), ID left zero: it is set per send.
std::vector<std::uint8_t> encode_query(std::string_view name, std::uint16_t qtype) {
  std::vector<std::uint8_t> q = {0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};  // RD, QDCOUNT 1
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    const std::size_t len = dot - start;
    if (len == 0 || len > 63) throw std::invalid_argument("bad name: " + std::string(name));
    q.push_back(static_cast<std::uint8_t>(len));
    q.insert(q.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
             name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  q.push_back(0);
  q.push_back(static_cast<std::uint8_t>(qtype >> 8));
  q.push_back(static_cast<std::uint8_t>(qtype & 0xff));
  q.push_back(0);
  q.push_back(1);  // class IN
  if (q.size() > max_packet) throw std::invalid_argument("name too long: " + std::string(name));
  return q;
}

/// `q` with an OPT record (UDP size 1232) holding a COOKIE option of `client_cookie`.
void add_cookie(std::vector<std::uint8_t>& q, const std::vector<std::uint8_t>& client_cookie) {
  q[11] = 1;  // ARCOUNT
  const std::uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8};
  q.insert(q.end(), std::begin(opt), std::end(opt));
  q.insert(q.end(), client_cookie.begin(), client_cookie.end());
}

std::vector<std::uint8_t> parse_cookie(std::string_view hex) {
  if (hex.size() != 16) throw std::invalid_argument("--cookie takes 16 hex digits");
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(
        static_cast<std::uint8_t>(std::stoul(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::uint16_t parse_type(std::string_view t) {
  if (t == "A") return 1;
  if (t == "AAAA") return 28;
  if (t == "NS") return 2;
  if (t == "SOA") return 6;
  if (t == "TXT") return 16;
  if (t == "MX") return 15;
  throw std::invalid_argument("unsupported type: " + std::string(t));
}

std::vector<std::vector<std::uint8_t>> read_queries(const std::string& path,
                                                    const std::vector<std::uint8_t>& cookie) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::vector<std::uint8_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto sp = line.find(' ');
    if (line.empty() || line[0] == '#' || sp == std::string::npos) continue;
    std::string_view name(line.data(), sp);
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    out.push_back(encode_query(name, parse_type(std::string_view(line).substr(sp + 1))));
    if (!cookie.empty()) add_cookie(out.back(), cookie);
  }
  if (out.empty()) throw std::runtime_error("no queries in " + path);
  return out;
}

/// One socket's queries in flight: send times by ID and the IDs in send order, so that the
/// oldest (the only ones that can time out) are found at the front without a scan.
struct flight {
  int fd = -1;
  std::vector<std::int64_t> sent_at = std::vector<std::int64_t>(65536, -1);  // ns, -1 = free
  std::vector<std::uint16_t> order = std::vector<std::uint16_t>(65536);      // ring of IDs
  std::size_t head = 0;                                                      // oldest in `order`
  std::size_t tail = 0;                                                      // next free in `order`
  std::size_t in_flight = 0;
  std::uint16_t next_id = 0;
};

struct totals {
  std::uint64_t sent = 0;
  std::uint64_t completed = 0;
  std::uint64_t lost = 0;
  std::array<std::uint64_t, 16> rcodes{};
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
      .count();
}

// Drops answered IDs from the front of the order ring, and counts as lost the ones older than
// the timeout (their late answers, if any, are then ignored).
void expire(flight& f, std::int64_t now, std::int64_t timeout_ns, totals& t) {
  while (f.head != f.tail) {
    const std::uint16_t id = f.order[f.head & 0xffff];
    const std::int64_t at = f.sent_at[id];
    if (at >= 0) {
      if (now - at < timeout_ns) break;
      f.sent_at[id] = -1;
      --f.in_flight;
      ++t.lost;
    }
    ++f.head;
  }
}

int run(const std::string& server, const std::string& file, double duration, int sockets,
        int window, int timeout_ms, const std::vector<std::uint8_t>& cookie) {
  const auto queries = read_queries(file, cookie);
  sockaddr_in to{};
  {
    const auto colon = server.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("--server IP:PORT");
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(server.substr(colon + 1))));
    if (::inet_pton(AF_INET, server.substr(0, colon).c_str(), &to.sin_addr) != 1) {
      throw std::invalid_argument("--server: not an IPv4 address");
    }
  }
  std::vector<flight> flights(static_cast<std::size_t>(sockets));
  std::vector<pollfd> pfds;
  for (auto& f : flights) {
    f.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f.fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    const int buf = 4 << 20;
    ::setsockopt(f.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    ::setsockopt(f.fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (::connect(f.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    }
    pfds.push_back({f.fd, POLLIN, 0});
  }

  std::array<std::array<std::uint8_t, max_packet>, batch> out_buf{};
  std::array<std::array<std::uint8_t, max_packet>, batch> in_buf{};
  std::array<mmsghdr, batch> out_msg{};
  std::array<mmsghdr, batch> in_msg{};
  std::array<iovec, batch> out_iov{};
  std::array<iovec, batch> in_iov{};
  for (std::size_t i = 0; i < batch; ++i) {
    in_iov[i] = {in_buf[i].data(), max_packet};
    in_msg[i].msg_hdr.msg_iov = &in_iov[i];
    in_msg[i].msg_hdr.msg_iovlen = 1;
    out_msg[i].msg_hdr.msg_iov = &out_iov[i];
    out_msg[i].msg_hdr.msg_iovlen = 1;
  }

  totals t;
  std::size_t next_query = 0;
  const std::int64_t timeout_ns = std::int64_t{timeout_ms} * 1000000;
  const std::int64_t start = now_ns();
  const std::int64_t stop = start + static_cast<std::int64_t>(duration * 1e9);
  const auto win = static_cast<std::size_t>(window);
  std::int64_t now = start;
  // Bounded by time: the loop ends at `stop`, then waits up to the timeout for stragglers.
  for (bool sending = true;;) {
    now = now_ns();
    if (sending && now >= stop) sending = false;
    std::size_t in_flight_total = 0;
    for (auto& f : flights) {
      // Receive what arrived.
      for (;;) {
        const int n = ::recvmmsg(f.fd, in_msg.data(), batch, MSG_DONTWAIT, nullptr);
        if (n <= 0) break;
        for (int i = 0; i < n; ++i) {
          const auto& m = in_msg[static_cast<std::size_t>(i)];
          if (m.msg_len < 12) continue;
          const auto* p = in_buf[static_cast<std::size_t>(i)].data();
          const auto id = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
          if (f.sent_at[id] < 0) continue;  // late (already counted lost) or stray
          f.sent_at[id] = -1;
          --f.in_flight;
          ++t.completed;
          ++t.rcodes[p[3] & 0x0f];
        }
        if (static_cast<std::size_t>(n) < batch) break;
      }
      expire(f, now, timeout_ns, t);
      // Refill the window.
      while (sending && f.in_flight < win) {
        std::size_t k = 0;
        // The order ring holds at most 65,536 IDs, answered ones included until the oldest
        // unanswered one ahead of them is answered or expires.
        while (k < batch && f.in_flight + k < win && f.tail - f.head < 65536) {
          const auto& q = queries[next_query];
          next_query = next_query + 1 == queries.size() ? 0 : next_query + 1;
          const std::uint16_t id = f.next_id++;
          if (f.sent_at[id] >= 0) break;  // 65,536 in flight on one socket: wait
          std::memcpy(out_buf[k].data(), q.data(), q.size());
          out_buf[k][0] = static_cast<std::uint8_t>(id >> 8);
          out_buf[k][1] = static_cast<std::uint8_t>(id & 0xff);
          out_iov[k] = {out_buf[k].data(), q.size()};
          f.sent_at[id] = now;
          f.order[f.tail++ & 0xffff] = id;
          ++k;
        }
        if (k == 0) break;
        const int m = ::sendmmsg(f.fd, out_msg.data(), static_cast<unsigned>(k), 0);
        const std::size_t sent = m > 0 ? static_cast<std::size_t>(m) : 0;
        // Those not sent (socket buffer full) are taken back.
        for (std::size_t j = sent; j < k; ++j) {
          const auto* b = out_buf[j].data();
          f.sent_at[static_cast<std::uint16_t>((b[0] << 8) | b[1])] = -1;
        }
        f.in_flight += sent;
        t.sent += sent;
        if (sent < k) break;
      }
      in_flight_total += f.in_flight;
    }
    if (!sending && (in_flight_total == 0 || now >= stop + timeout_ns)) break;
    ::poll(pfds.data(), pfds.size(), 1);
  }
  for (auto& f : flights) {
    t.lost += f.in_flight;
    ::close(f.fd);
  }
  const double seconds = static_cast<double>(std::min(now, stop) - start) / 1e9;
  static constexpr std::array<const char*, 16> names = {
      "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
      "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};
  fmt::print("sent {}\ncompleted {}\nlost {}\nqps {:.0f}\nrcodes", t.sent, t.completed, t.lost,
             seconds > 0 ? static_cast<double>(t.completed) / seconds : 0.0);
  for (std::size_t i = 0; i < t.rcodes.size(); ++i) {
    if (t.rcodes[i] != 0) fmt::print(" {}={}", names[i], t.rcodes[i]);
  }
  fmt::print("\n");
  return t.completed > 0 ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = "127.0.0.1:53";
  std::string file;
  double duration = 10;
  int sockets = 8;
  int window = 64;
  int timeout_ms = 1000;
  std::string cookie;
  CLI::App app{"udp_flood: closed-loop batched UDP DNS load for bench/qps/run"};
  app.add_option("--server", server, "IPv4:PORT")->capture_default_str();
  app.add_option("--queries", file, "query file, 'NAME TYPE' per line")->required();
  app.add_option("--duration", duration, "seconds")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--sockets", sockets, "client sockets (source ports)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--window", window, "queries in flight per socket")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "an answer later than this is lost")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  app.add_option("--cookie", cookie, "a client cookie (16 hex digits) in every query's EDNS");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(server, file, duration, sockets, window, timeout_ms,
               cookie.empty() ? std::vector<std::uint8_t>{} : parse_cookie(cookie));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "udp_flood: %s\n", e.what());
    return 1;
  }
}
