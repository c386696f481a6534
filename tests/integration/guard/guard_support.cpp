#include "tests/integration/guard/guard_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace loadns::test::guard {

world::world(std::vector<std::string> extra, int threads) {
  pg.create_loadns_database();
  pg.psql(faults::seed_sql);
  auto o = faults::server_options_for(pg.conninfo("loadns", "server"));
  o.extra_args = std::move(extra);
  o.threads = threads;
  server = std::make_unique<server_process>(o);
}

double world::metric(std::string_view series) const {
  return faults::metric(server->metrics_port(), series).value_or(0);
}

udp_socket::udp_socket(const char* address) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket");
  int buffer = 4 << 20;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, address, &a.sin_addr);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {  // NOLINT: sockaddr API
    ::close(fd_);
    throw std::runtime_error(std::string("cannot bind to ") + address);
  }
}

udp_socket::~udp_socket() {
  ::close(fd_);
}

bool udp_socket::send_to(std::uint16_t port, std::span<const std::uint8_t> packet) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::sendto(fd_, packet.data(), packet.size(), 0,
                  reinterpret_cast<sockaddr*>(&to),  // NOLINT: sockaddr API
                  sizeof to) == static_cast<ssize_t>(packet.size());
}

std::optional<std::vector<std::uint8_t>> udp_socket::receive(int wait_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, wait_ms) <= 0) return std::nullopt;
  std::vector<std::uint8_t> buf(65535);
  const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

std::vector<std::uint8_t> query_with_cookie(const std::string& name, std::uint16_t id,
                                            std::span<const std::uint8_t> cookie) {
  query_spec spec;
  spec.name = name;
  spec.id = id;
  spec.edns = true;
  auto q = make_query(spec);  // ends with the OPT record's RDLENGTH 0
  const std::size_t rdlength = 4 + cookie.size();
  q[q.size() - 2] = static_cast<std::uint8_t>(rdlength >> 8);
  q[q.size() - 1] = static_cast<std::uint8_t>(rdlength);
  q.push_back(0);
  q.push_back(10);  // COOKIE (RFC 7873 4)
  q.push_back(static_cast<std::uint8_t>(cookie.size() >> 8));
  q.push_back(static_cast<std::uint8_t>(cookie.size()));
  q.insert(q.end(), cookie.begin(), cookie.end());
  return q;
}

std::vector<std::uint8_t> response_cookie(std::span<const std::uint8_t> r) {
  if (r.size() < 28) return {};
  const auto* end = r.data() + r.size();
  if (end[-28] != 0 || end[-27] != 10 || end[-26] != 0 || end[-25] != 24) return {};
  return {end - 24, end};
}

}  // namespace loadns::test::guard
