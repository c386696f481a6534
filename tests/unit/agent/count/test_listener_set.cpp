// agent/count/listener_set: which ports have a listener, from dump sockets.

#include "agent/count/listener_set.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>

using namespace loadns::agent;

namespace {

diag_socket sock(const char* local, std::uint16_t port, std::uint8_t state = tcp_state_listen) {
  diag_socket s;
  const bool v6 = std::string(local).find(':') != std::string::npos;
  s.family = v6 ? ip_family::v6 : ip_family::v4;
  REQUIRE(::inet_pton(v6 ? AF_INET6 : AF_INET, local, s.local.data()) == 1);
  s.local_port = port;
  s.state = state;
  return s;
}

}  // namespace

TEST_CASE("every port needs a listener; the first one missing is named") {
  listener_set l(socket_filter{{8080, 8443}, std::nullopt});
  CHECK(l.first_missing() == 8080);
  l.on_socket(sock("127.0.0.1", 8443));
  CHECK(l.first_missing() == 8080);
  l.on_socket(sock("192.0.2.7", 8080));  // any address when --local-address is not given
  CHECK(l.first_missing() == 0);
  l.reset();
  CHECK(l.first_missing() == 8080);
}

TEST_CASE("only LISTEN sockets count: an established connection on the port does not") {
  listener_set l(socket_filter{{8080}, std::nullopt});
  l.on_socket(sock("127.0.0.1", 8080, tcp_state_established));
  CHECK(l.first_missing() == 8080);
  l.on_socket(sock("127.0.0.1", 9090));
  CHECK(l.first_missing() == 8080);
}

TEST_CASE(
    "with --local-address: that address, its v4-mapped form, or a wildcard of either family") {
  const socket_filter f{{8080}, ip_address::parse("192.0.2.10")};
  for (const char* ok : {"192.0.2.10", "::ffff:192.0.2.10", "0.0.0.0", "::"}) {
    CAPTURE(ok);
    listener_set l(f);
    l.on_socket(sock(ok, 8080));
    CHECK(l.first_missing() == 0);
  }
  for (const char* other : {"192.0.2.11", "127.0.0.1", "2001:db8::10"}) {
    CAPTURE(other);
    listener_set l(f);
    l.on_socket(sock(other, 8080));
    CHECK(l.first_missing() == 8080);
  }
}
