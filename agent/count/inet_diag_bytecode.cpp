#include "agent/count/inet_diag_bytecode.hpp"

#include <linux/inet_diag.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace loadns::agent {
namespace {

// Layouts written byte by byte below; these pin them to the kernel's UAPI structs.
static_assert(sizeof(inet_diag_bc_op) == 4);
static_assert(offsetof(inet_diag_bc_op, code) == 0 && offsetof(inet_diag_bc_op, yes) == 1 &&
              offsetof(inet_diag_bc_op, no) == 2);
static_assert(sizeof(inet_diag_hostcond) == 8);
static_assert(offsetof(inet_diag_hostcond, family) == 0 &&
              offsetof(inet_diag_hostcond, prefix_len) == 1 &&
              offsetof(inet_diag_hostcond, port) == 4 && offsetof(inet_diag_hostcond, addr) == 8);

constexpr std::size_t op_len = 4;
constexpr std::size_t hostcond_len = 8;
// The attribute length (struct nlattr nla_len) is 16 bits and includes its 4-byte header.
constexpr std::size_t max_program = 0xffff - 4;

void put_op(std::vector<std::uint8_t>& out, std::uint8_t code, std::size_t yes, std::size_t no) {
  const auto y = static_cast<std::uint8_t>(yes);
  const auto n = static_cast<std::uint16_t>(no);
  std::uint8_t b[op_len] = {code, y, 0, 0};
  std::memcpy(b + 2, &n, sizeof n);  // __u16 in host order
  out.insert(out.end(), b, b + op_len);
}

}  // namespace

std::optional<std::vector<std::uint8_t>> build_inet_diag_bytecode(const socket_filter& filter) {
  std::vector<std::uint16_t> ports = filter.ports;
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  if (ports.empty()) {
    return std::nullopt;
  }

  std::uint8_t family = AF_UNSPEC;
  std::uint8_t prefix_len = 0;
  std::size_t addr_len = 0;
  if (filter.local_address) {
    const bool v4 = filter.local_address->family == ip_family::v4;
    family = v4 ? AF_INET : AF_INET6;
    addr_len = v4 ? 4 : 16;
    prefix_len = static_cast<std::uint8_t>(addr_len * 8);
  }
  const std::size_t cond_len = op_len + hostcond_len + addr_len;  // <= 28: fits `yes` (u8)
  const std::size_t total = ports.size() * cond_len + (ports.size() - 1) * op_len;
  if (total > max_program) {
    return std::nullopt;
  }

  std::vector<std::uint8_t> out;
  out.reserve(total);
  for (std::size_t i = 0; i < ports.size(); ++i) {
    // True: fall through to the JMP (or the end, for the last term). False: skip the JMP to the
    // next term, or for the last term land 4 past the end, which rejects the socket.
    put_op(out, INET_DIAG_BC_S_COND, cond_len, cond_len + op_len);
    std::uint8_t cond[hostcond_len] = {family, prefix_len, 0, 0};
    const int port = ports[i];  // `int port` in host order; -1 would mean any port
    std::memcpy(cond + 4, &port, sizeof port);
    out.insert(out.end(), cond, cond + hostcond_len);
    if (addr_len != 0) {
      const auto& a = filter.local_address->bytes;
      out.insert(out.end(), a.begin(), a.begin() + static_cast<long>(addr_len));
    }
    if (i + 1 < ports.size()) {
      // JMP never takes `yes`; its `no` goes exactly to the end: accept. Its `yes` (4) keeps
      // the next term on the audited chain.
      put_op(out, INET_DIAG_BC_JMP, op_len, total - out.size());
    }
  }
  return out;
}

}  // namespace loadns::agent
