#include "agent/count/netlink_dump.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cassert>
#include <cstddef>
#include <cstring>

#include "agent/count/byte_reader.hpp"

namespace loadns::agent {
namespace {

// The parser reads these by offset; pin the offsets to the UAPI structs.
static_assert(sizeof(nlmsghdr) == 16);
static_assert(offsetof(nlmsghdr, nlmsg_len) == 0 && offsetof(nlmsghdr, nlmsg_type) == 4 &&
              offsetof(nlmsghdr, nlmsg_flags) == 6 && offsetof(nlmsghdr, nlmsg_seq) == 8 &&
              offsetof(nlmsghdr, nlmsg_pid) == 12);
static_assert(sizeof(inet_diag_msg) == 72);
static_assert(offsetof(inet_diag_msg, idiag_family) == 0 &&
              offsetof(inet_diag_msg, idiag_state) == 1 && offsetof(inet_diag_msg, id) == 4);
static_assert(offsetof(inet_diag_sockid, idiag_sport) == 0 &&
              offsetof(inet_diag_sockid, idiag_dport) == 2 &&
              offsetof(inet_diag_sockid, idiag_src) == 4 &&
              offsetof(inet_diag_sockid, idiag_dst) == 20 &&
              offsetof(inet_diag_sockid, idiag_if) == 36 &&
              offsetof(inet_diag_sockid, idiag_cookie) == 40);
static_assert(offsetof(inet_diag_msg, idiag_inode) == 68);
static_assert(sizeof(inet_diag_req_v2) == 56);
static_assert(sizeof(inet_diag_req) == 60);
static_assert(offsetof(inet_diag_req, id) == 4 && offsetof(inet_diag_req, idiag_states) == 52 &&
              offsetof(inet_diag_req, idiag_dbs) == 56);
static_assert(offsetof(inet_diag_req_v2, idiag_states) == 4 && offsetof(inet_diag_req_v2, id) == 8);

constexpr std::size_t nlmsg_header = sizeof(nlmsghdr);
constexpr std::size_t align4(std::size_t n) {
  return (n + 3) & ~std::size_t{3};
}

// Writes a request of known length into a zeroed buffer, field by field. Writing in place
// rather than growing the vector with insert() also keeps g++ 12 at -O3 from a false
// -Wstringop-overflow on the growth path it cannot prove dead.
class request_writer {
 public:
  explicit request_writer(std::size_t len) : out_(len, 0) {}
  template <typename T>
  void put(T v) noexcept {
    bytes(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&v), sizeof v));
  }
  void bytes(std::span<const std::uint8_t> b) noexcept {
    assert(at_ + b.size() <= out_.size());
    if (!b.empty()) std::memcpy(out_.data() + at_, b.data(), b.size());
    at_ += b.size();
  }
  void skip(std::size_t n) noexcept { at_ += n; }  // left zero
  std::vector<std::uint8_t> take() noexcept { return std::move(out_); }

 private:
  std::vector<std::uint8_t> out_;
  std::size_t at_ = 0;
};

}  // namespace

std::vector<std::uint8_t> build_dump_request(ip_family family,
                                             std::span<const std::uint8_t> bytecode,
                                             std::uint32_t seq, std::uint32_t states) {
  const std::size_t attr_len = bytecode.empty() ? 0 : align4(sizeof(nlattr) + bytecode.size());
  const std::size_t len = nlmsg_header + sizeof(inet_diag_req_v2) + attr_len;
  request_writer out(len);

  out.put(static_cast<std::uint32_t>(len));                         // nlmsg_len
  out.put(static_cast<std::uint16_t>(SOCK_DIAG_BY_FAMILY));         // nlmsg_type
  out.put(static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_DUMP));  // nlmsg_flags
  out.put(seq);                                                     // nlmsg_seq
  out.put(std::uint32_t{0});  // nlmsg_pid 0: the kernel fills in our port id

  // inet_diag_req_v2
  out.put(static_cast<std::uint8_t>(family == ip_family::v4 ? AF_INET : AF_INET6));
  out.put(static_cast<std::uint8_t>(IPPROTO_TCP));
  // idiag_ext 0: no extensions (no tcp_info, no meminfo) keeps each message at 72 bytes.
  out.put(std::uint8_t{0});
  out.put(std::uint8_t{0});            // pad
  out.put(states);                     // idiag_states
  out.skip(sizeof(inet_diag_sockid));  // id all zero: a dump, not a lookup

  if (!bytecode.empty()) {
    out.put(static_cast<std::uint16_t>(sizeof(nlattr) + bytecode.size()));  // nla_len
    out.put(static_cast<std::uint16_t>(INET_DIAG_REQ_BYTECODE));            // nla_type
    out.bytes(bytecode);  // attribute padding after it stays zero
  }
  return out.take();
}

std::vector<std::uint8_t> build_all_families_request(std::span<const std::uint8_t> bytecode,
                                                     std::uint32_t seq, std::uint32_t states) {
  const std::size_t attr_len = bytecode.empty() ? 0 : align4(sizeof(nlattr) + bytecode.size());
  const std::size_t len = nlmsg_header + sizeof(inet_diag_req) + attr_len;
  request_writer out(len);

  out.put(static_cast<std::uint32_t>(len));                         // nlmsg_len
  out.put(static_cast<std::uint16_t>(TCPDIAG_GETSOCK));             // nlmsg_type
  out.put(static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_DUMP));  // nlmsg_flags
  out.put(seq);                                                     // nlmsg_seq
  out.put(std::uint32_t{0});                                        // nlmsg_pid

  // struct inet_diag_req. The kernel ignores idiag_family for this dump (it walks every
  // family); src_len and dst_len only matter for a lookup of one socket.
  out.put(static_cast<std::uint8_t>(AF_INET));  // idiag_family
  out.put(std::uint8_t{0});                     // idiag_src_len
  out.put(std::uint8_t{0});                     // idiag_dst_len
  out.put(std::uint8_t{0});                     // idiag_ext: none
  out.skip(sizeof(inet_diag_sockid));
  out.put(states);            // idiag_states
  out.put(std::uint32_t{0});  // idiag_dbs

  if (!bytecode.empty()) {
    out.put(static_cast<std::uint16_t>(sizeof(nlattr) + bytecode.size()));
    out.put(static_cast<std::uint16_t>(INET_DIAG_REQ_BYTECODE));
    out.bytes(bytecode);
  }
  return out.take();
}

void set_request_seq(std::span<std::uint8_t> request, std::uint32_t seq) noexcept {
  if (request.size() >= nlmsg_header) {
    std::memcpy(request.data() + 8, &seq, sizeof seq);
  }
}

namespace {

// Counts ESTABLISHED sockets that match a filter: the counter's sink.
class matching_sink final : public socket_sink {
 public:
  explicit matching_sink(const socket_filter& filter) noexcept : filter_(filter) {}
  void on_socket(const diag_socket& s) noexcept override {
    if (s.state == tcp_state_established && filter_.matches(s.family, s.local_port, s.local)) {
      ++matched;
    }
  }
  std::uint64_t matched = 0;

 private:
  const socket_filter& filter_;
};

}  // namespace

dump_chunk parse_dump_datagram(std::span<const std::uint8_t> datagram, std::uint32_t seq,
                               const socket_filter& filter, dump_kind kind) noexcept {
  matching_sink sink(filter);
  dump_chunk result = parse_dump_datagram(datagram, seq, sink, kind);
  result.matched = sink.matched;
  return result;
}

dump_chunk parse_dump_datagram(std::span<const std::uint8_t> datagram, std::uint32_t seq,
                               socket_sink& sink, dump_kind kind) noexcept {
  const std::uint16_t socket_type =
      kind == dump_kind::by_family ? SOCK_DIAG_BY_FAMILY : TCPDIAG_GETSOCK;
  dump_chunk result;
  std::size_t at = 0;
  while (datagram.size() - at >= nlmsg_header) {
    byte_reader header(datagram.subspan(at, nlmsg_header));
    const std::uint32_t len = header.u32_host();
    const std::uint16_t type = header.u16_host();
    header.skip(
        2);  // flags: NLM_F_MULTI on every part; NLM_F_DUMP_INTR changes nothing for a count
    const std::uint32_t msg_seq = header.u32_host();
    if (len < nlmsg_header || len > datagram.size() - at) {
      result.status = dump_status::malformed;
      return result;
    }
    byte_reader payload(datagram.subspan(at + nlmsg_header, len - nlmsg_header));
    at += align4(len) < datagram.size() - at ? align4(len) : datagram.size() - at;
    if (msg_seq != seq) {
      continue;
    }

    if (type == socket_type) {
      diag_socket s;
      const std::uint8_t family = payload.u8();
      s.state = payload.u8();
      payload.skip(2);  // timer, retrans
      s.local_port = payload.u16_be();
      s.remote_port = payload.u16_be();
      payload.bytes(s.local.data(), s.local.size());
      payload.bytes(s.remote.data(), s.remote.size());
      s.interface = payload.u32_host();
      const std::uint32_t cookie_low = payload.u32_host();
      const std::uint32_t cookie_high = payload.u32_host();
      s.cookie = (std::uint64_t{cookie_high} << 32) | cookie_low;
      payload.skip(4 * 4);  // expires, rqueue, wqueue, uid
      s.inode = payload.u32_host();
      if (!payload.ok()) {
        result.status = dump_status::malformed;
        return result;
      }
      ++result.sockets;
      if (family != AF_INET && family != AF_INET6) {
        continue;
      }
      s.family = family == AF_INET ? ip_family::v4 : ip_family::v6;
      sink.on_socket(s);
      continue;
    }
    switch (type) {
      case NLMSG_DONE: {
        // Since Linux 4.x the DONE payload carries the dump's return value; negative = failed.
        const std::int32_t err = payload.remaining() >= 4 ? payload.i32_host() : 0;
        if (err < 0) {
          result.status = dump_status::error;
          result.error = -err;
        } else {
          result.status = dump_status::done;
        }
        return result;
      }
      case NLMSG_ERROR: {
        const std::int32_t err = payload.i32_host();
        if (!payload.ok()) {
          result.status = dump_status::malformed;
          return result;
        }
        if (err == 0) {
          continue;  // an ACK: not an error
        }
        result.status = dump_status::error;
        result.error = -err;
        return result;
      }
      default:
        continue;  // NLMSG_NOOP and anything new: nothing to count
    }
  }
  if (at != datagram.size()) {
    result.status = dump_status::malformed;  // a torn header
  }
  return result;
}

std::vector<std::uint8_t> build_destroy_request(const diag_socket& s, std::uint32_t seq) {
  const std::size_t len = nlmsg_header + sizeof(inet_diag_req_v2);
  request_writer out(len);
  out.put(static_cast<std::uint32_t>(len));
  out.put(static_cast<std::uint16_t>(SOCK_DESTROY));
  out.put(static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_ACK));
  out.put(seq);
  out.put(std::uint32_t{0});

  out.put(static_cast<std::uint8_t>(s.family == ip_family::v4 ? AF_INET : AF_INET6));
  out.put(static_cast<std::uint8_t>(IPPROTO_TCP));
  out.put(std::uint8_t{0});                            // idiag_ext
  out.put(std::uint8_t{0});                            // pad
  out.put(static_cast<std::uint32_t>(1U << s.state));  // idiag_states
  // inet_diag_sockid: ports in network order, addresses as the dump gave them.
  out.put(static_cast<std::uint8_t>(s.local_port >> 8));
  out.put(static_cast<std::uint8_t>(s.local_port & 0xff));
  out.put(static_cast<std::uint8_t>(s.remote_port >> 8));
  out.put(static_cast<std::uint8_t>(s.remote_port & 0xff));
  out.bytes(s.local);
  out.bytes(s.remote);
  out.put(s.interface);
  out.put(static_cast<std::uint32_t>(s.cookie & 0xffffffffU));
  out.put(static_cast<std::uint32_t>(s.cookie >> 32));
  return out.take();
}

int parse_ack(std::span<const std::uint8_t> datagram, std::uint32_t seq) noexcept {
  std::size_t at = 0;
  while (datagram.size() - at >= nlmsg_header) {
    byte_reader header(datagram.subspan(at, nlmsg_header));
    const std::uint32_t len = header.u32_host();
    const std::uint16_t type = header.u16_host();
    header.skip(2);
    const std::uint32_t msg_seq = header.u32_host();
    if (len < nlmsg_header || len > datagram.size() - at) {
      return -1;
    }
    byte_reader payload(datagram.subspan(at + nlmsg_header, len - nlmsg_header));
    at += align4(len) < datagram.size() - at ? align4(len) : datagram.size() - at;
    if (msg_seq == seq && type == NLMSG_ERROR) {
      const std::int32_t err = payload.i32_host();
      return payload.ok() ? -err : -1;
    }
  }
  return -1;
}

}  // namespace loadns::agent
