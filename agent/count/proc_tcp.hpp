#pragma once
// The text of /proc/net/tcp and /proc/net/tcp6, without I/O: the fallback when sock_diag is
// unavailable. Each line after the header reads
//     sl  local_address rem_address   st ...
//      0: 0100007F:1F90 0100007F:D3A2 01 ...
// where an address is the kernel's __be32 words printed with %08X (so their bytes are the
// network-order bytes in host memory order), the port is %04X in host order, and st is the
// TCP state in hex (01 = ESTABLISHED). Parsing never allocates.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "agent/count/ip_address.hpp"
#include "agent/count/listener_set.hpp"
#include "agent/count/socket_filter.hpp"

namespace loadns::agent {

struct proc_tcp_entry {
  std::array<std::uint8_t, 16> local{};  ///< network order; IPv4 in the first 4 bytes
  std::uint16_t local_port = 0;
  std::uint8_t state = 0;  ///< TCP state as in include/net/tcp_states.h
};

/// Parses one socket line (without its newline) of /proc/net/tcp (v4) or /proc/net/tcp6 (v6).
/// Empty for the header line and for anything malformed.
[[nodiscard]] std::optional<proc_tcp_entry> parse_proc_tcp_line(std::string_view line,
                                                                ip_family family) noexcept;

struct proc_tcp_counts {
  std::uint64_t sockets = 0;    ///< socket lines parsed
  std::uint64_t matched = 0;    ///< ESTABLISHED and matching the filter
  std::uint64_t malformed = 0;  ///< lines that are neither the header nor a socket
};

/// Adds the lines of `text` to `counts`. `text` must hold whole lines: the reader keeps a
/// partial last line for the next call. A final line without '\n' is parsed as a line.
/// With `listen` set, each parsed line is also handed to it (the listen health check).
void count_proc_tcp_lines(std::string_view text, ip_family family, const socket_filter& filter,
                          proc_tcp_counts& counts, listener_set* listen = nullptr) noexcept;

}  // namespace loadns::agent
