#include "client/spread.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace loadns::client {

void spread::add_answer(std::string_view address) {
  ++answered_;
  auto it = counts_.find(address);
  if (it == counts_.end()) {
    it = counts_.emplace(std::string(address), 0).first;
  }
  ++it->second;
}

void spread::add_failure(lookup_status status) {
  ++failed_;
  ++failures_[std::string(to_string(status))];
}

std::vector<spread::row> spread::rows() const {
  std::vector<row> out;
  out.reserve(counts_.size());
  for (const auto& [address, count] : counts_) {
    out.push_back(
        {address, count,
         answered_ != 0 ? static_cast<double>(count) / static_cast<double>(answered_) : 0});
  }
  // counts_ is ordered by address, so a stable sort keeps equal counts in address order.
  std::stable_sort(out.begin(), out.end(),
                   [](const row& a, const row& b) { return a.count > b.count; });
  return out;
}

std::string spread::format() const {
  std::string out =
      fmt::format("{} lookups, {} answered, {} failed\n", answered_ + failed_, answered_, failed_);
  std::size_t width = 7;
  for (const auto& [address, count] : counts_) {
    width = std::max(width, address.size());
  }
  for (const auto& [status, count] : failures_) {
    width = std::max(width, status.size());
  }
  out += fmt::format("{:<{}}  {:>7}  {:>6}\n", "address", width, "count", "share");
  for (const auto& r : rows()) {
    out += fmt::format("{:<{}}  {:>7}  {:>5.1f}%\n", r.address, width, r.count, 100.0 * r.share);
  }
  for (const auto& [status, count] : failures_) {
    out += fmt::format("{:<{}}  {:>7}\n", status, width, count);
  }
  return out;
}

}  // namespace loadns::client
