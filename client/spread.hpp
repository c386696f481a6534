#pragma once
// The tally behind `loadns-resolve --count`: how the answers spread over addresses.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "client/status.hpp"

namespace loadns::client {

/// Counts lookups by the address a client would connect to (the first of the answer) and
/// failed lookups by status.
class spread {
 public:
  struct row {
    std::string address;
    std::size_t count;
    double share;  ///< count / answered, 0..1
  };

  void add_answer(std::string_view address);
  void add_failure(lookup_status status);

  std::size_t answered() const noexcept { return answered_; }
  std::size_t failed() const noexcept { return failed_; }
  /// Rows by count, largest first; equal counts by address.
  std::vector<row> rows() const;
  /// Failures by status word ("NXDOMAIN", "TIMEOUT", ...).
  const std::map<std::string, std::size_t>& failures() const noexcept { return failures_; }
  /// The summary loadns-resolve prints: a header line, then `ADDRESS COUNT SHARE%` rows,
  /// then one line per failure status.
  std::string format() const;

 private:
  std::map<std::string, std::size_t, std::less<>> counts_;
  std::map<std::string, std::size_t> failures_;
  std::size_t answered_ = 0;
  std::size_t failed_ = 0;
};

}  // namespace loadns::client
