#include "server/metrics/exposition.hpp"

#include <fmt/format.h>

#include <cmath>

namespace loadns::metrics {

void exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void exposition::sample(std::string_view name, labels l, double value) {
  out_ += name;
  if (l.size() > 0) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : l) {
      if (!first) out_ += ',';
      first = false;
      fmt::format_to(std::back_inserter(out_), "{}=\"{}\"", k, escape_label_value(v));
    }
    out_ += '}';
  }
  // Integers print without an exponent so that counters stay exact up to 2^53.
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.0e15) {
    fmt::format_to(std::back_inserter(out_), " {}\n", static_cast<long long>(value));
  } else {
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  }
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace loadns::metrics
