#pragma once
// The descriptor limit (RLIMIT_NOFILE) the server runs with: every TCP connection holds one,
// and the usual soft limit of 1024 is below the default --tcp-max-connections.

#include <sys/resource.h>

#include <cstdint>

#include "server/app/config.hpp"

namespace loadns::app {

/// Descriptors the configuration needs at most: the TCP connection cap, each thread's
/// sockets and event loop, the database session, the metrics endpoint, and a margin.
std::uint64_t descriptors_needed(const server_config& cfg);

struct fd_limit {
  rlim_t soft_before = 0;  ///< the soft limit the process started with
  rlim_t soft = 0;         ///< the soft limit now
  rlim_t hard = 0;
};

/// Raises the soft RLIMIT_NOFILE to the hard limit (what an unprivileged process may do), logs
/// the change, and warns naming both numbers when the limit is still below `needed`. Never
/// fails: out of descriptors, the TCP accept loop pauses (EMFILE) until sessions end.
fd_limit raise_fd_limit(std::uint64_t needed);

}  // namespace loadns::app
