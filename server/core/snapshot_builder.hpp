#pragma once
// Turns the rows of one poll (core::source) into an immutable snapshot: validates every row,
// renders record data to wire form (dns/rdata_text.hpp), finds each name's zone, adds the
// empty non-terminals, and adds the backends with their states, candidates and answer
// counters (backends.hpp).
// Invalid data fails the whole build with a message naming the row, so the server keeps
// answering from its last good snapshot.

#include <cstdint>
#include <memory>
#include <string>

#include "server/core/answer_counter.hpp"
#include "server/core/snapshot.hpp"
#include "server/core/source.hpp"

namespace loadns::core {

struct build_result {
  std::shared_ptr<const snapshot> snap;  ///< null when the build failed
  std::string error;                     ///< why it failed, naming the offending row
};

/// Builds a snapshot of `src`. `now` is this server's steady clock at the moment the poll read
/// the database's now(), so report ages become time points on the server's clock. Answer
/// counters come from `counters` (one per backend id, kept across snapshots). Never throws
/// for bad data; may throw std::bad_alloc.
build_result build_snapshot(const source& src, clock::time_point now, std::uint64_t generation,
                            counter_registry& counters);

}  // namespace loadns::core
