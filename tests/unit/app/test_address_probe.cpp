// address_in_use(): a socket bound with SO_REUSEPORT (as another loadns-server's are) is seen,
// named with its process, over UDP and TCP; a free address is not.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "server/app/address_probe.hpp"

using loadns::app::address_in_use;
using loadns::app::listen_address;

namespace {

// A loopback socket of `type` with SO_REUSEPORT on an ephemeral port; listening when TCP.
struct reuseport_socket {
  int fd = -1;
  std::uint16_t port = 0;
  explicit reuseport_socket(int type) {
    fd = ::socket(AF_INET, type, 0);
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0);
    if (type == SOCK_STREAM) REQUIRE(::listen(fd, 1) == 0);
    socklen_t length = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &length);
    port = ntohs(sa.sin_port);
  }
  ~reuseport_socket() { ::close(fd); }
};

}  // namespace

TEST_CASE("an address held with SO_REUSEPORT is in use, and says by whom") {
  const std::string me = "pid " + std::to_string(::getpid());
  {
    reuseport_socket udp(SOCK_DGRAM);
    const auto why = address_in_use(listen_address{"127.0.0.1", udp.port});
    REQUIRE(why);
    CHECK(why->find("127.0.0.1:" + std::to_string(udp.port) + "/udp is already served by " + me) ==
          0);
    // The wildcard address overlaps every address of the family.
    CHECK(address_in_use(listen_address{"0.0.0.0", udp.port}));
    // IPv6 sockets are IPv6 only, as the workers bind them: [::] is another address.
    CHECK_FALSE(address_in_use(listen_address{"::1", udp.port}).has_value());
  }
  reuseport_socket tcp(SOCK_STREAM);
  const auto why = address_in_use(listen_address{"127.0.0.1", tcp.port});
  REQUIRE(why);
  CHECK(why->find("/tcp is already served by " + me) != std::string::npos);
}

TEST_CASE("a free address is not in use; port 0 is never checked") {
  std::uint16_t port = 0;
  {
    reuseport_socket udp(SOCK_DGRAM);
    port = udp.port;
  }
  CHECK_FALSE(address_in_use(listen_address{"127.0.0.1", port}).has_value());
  CHECK_FALSE(address_in_use(listen_address{"127.0.0.1", 0}).has_value());
}
