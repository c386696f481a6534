#pragma once
// Prometheus text exposition format (version 0.0.4): families with HELP and TYPE, samples
// with escaped label values.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace loadns::metrics {

class exposition {
 public:
  /// Starts a metric family. `type` is counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);

  using labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  void sample(std::string_view name, labels l, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }

  const std::string& text() const noexcept { return out_; }

 private:
  std::string out_;
};

/// Escapes a label value: backslash, double quote and newline (the format's only escapes).
std::string escape_label_value(std::string_view v);

}  // namespace loadns::metrics
