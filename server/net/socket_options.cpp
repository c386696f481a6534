#include "server/net/socket_options.hpp"

#include <cstring>

namespace loadns::net {

void set_reuse_port(int fd) {
  int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    throw boost::system::system_error(errno, boost::system::system_category(),
                                      "setsockopt(SO_REUSEPORT)");
  }
}

void enable_packet_info(int fd, bool v6) {
  int on = 1;
  int rc = v6 ? ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on)
              : ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  if (rc != 0) {
    throw boost::system::system_error(errno, boost::system::system_category(),
                                      "setsockopt(PKTINFO)");
  }
}

std::size_t reply_packet_info(const msghdr& received, std::array<std::uint8_t, 64>& control) {
  // The received msghdr is const, but the CMSG macros want a mutable one.
  msghdr in = received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&in); c != nullptr; c = CMSG_NXTHDR(&in, c)) {
    msghdr out{};
    out.msg_control = control.data();
    out.msg_controllen = control.size();
    cmsghdr* r = CMSG_FIRSTHDR(&out);
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      in_pktinfo reply{};
      reply.ipi_spec_dst = info.ipi_addr;  // source = where the query arrived
      r->cmsg_level = IPPROTO_IP;
      r->cmsg_type = IP_PKTINFO;
      r->cmsg_len = CMSG_LEN(sizeof reply);
      std::memcpy(CMSG_DATA(r), &reply, sizeof reply);
      return CMSG_SPACE(sizeof reply);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      in6_pktinfo reply{};
      reply.ipi6_addr = info.ipi6_addr;
      reply.ipi6_ifindex = info.ipi6_ifindex;  // link-local sources need their interface
      r->cmsg_level = IPPROTO_IPV6;
      r->cmsg_type = IPV6_PKTINFO;
      r->cmsg_len = CMSG_LEN(sizeof reply);
      std::memcpy(CMSG_DATA(r), &reply, sizeof reply);
      return CMSG_SPACE(sizeof reply);
    }
  }
  return 0;
}

boost::asio::ip::address endpoint_address(const sockaddr_storage& peer) noexcept {
  if (peer.ss_family == AF_INET) {
    sockaddr_in a{};
    std::memcpy(&a, &peer, sizeof a);
    return boost::asio::ip::address_v4(ntohl(a.sin_addr.s_addr));
  }
  if (peer.ss_family == AF_INET6) {
    sockaddr_in6 a{};
    std::memcpy(&a, &peer, sizeof a);
    boost::asio::ip::address_v6::bytes_type b{};
    std::memcpy(b.data(), &a.sin6_addr, b.size());
    return boost::asio::ip::address_v6(b, a.sin6_scope_id);
  }
  return {};
}

}  // namespace loadns::net
