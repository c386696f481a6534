#include "common/environment.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>

namespace loadns {
namespace {

constexpr std::string_view prefix = "LOADNS_";

// Levenshtein distance, for "did you mean": names are short, so the quadratic table is fine.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string flag_env_name(std::string_view flag) {
  while (!flag.empty() && flag.front() == '-') {
    flag.remove_prefix(1);
  }
  std::string out(prefix);
  for (const char c : flag) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool is_tool_variable(std::string_view name) noexcept {
  if (name == "LOADNS_BIN_DIR") {
    return true;
  }
  const auto ends_with = [&](std::string_view tail) {
    return name.size() > prefix.size() + tail.size() &&
           name.substr(name.size() - tail.size()) == tail;
  };
  return name.starts_with(prefix) && (ends_with("_BIN") || ends_with("_BINARY"));
}

std::vector<std::string> unknown_loadns_variables(const char* const* env,
                                                  const std::vector<std::string>& known) {
  std::vector<std::string> unknown;
  for (; env != nullptr && *env != nullptr; ++env) {
    const std::string_view entry(*env);
    const std::string_view name = entry.substr(0, entry.find('='));
    if (!name.starts_with(prefix) || is_tool_variable(name)) {
      continue;
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      unknown.emplace_back(name);
    }
  }
  return unknown;
}

std::string unknown_variables_message(const std::vector<std::string>& unknown,
                                      const std::vector<std::string>& known) {
  std::string out;
  for (const auto& name : unknown) {
    out += out.empty() ? "" : "; ";
    out += "unknown environment variable " + name;
    const std::string* best = nullptr;
    std::size_t best_distance = 0;
    for (const auto& k : known) {
      const std::size_t d = distance(name, k);
      if (best == nullptr || d < best_distance) {
        best = &k;
        best_distance = d;
      }
    }
    // Two edits catch a doubled, dropped or swapped letter without suggesting nonsense.
    if (best != nullptr && best_distance <= 2) {
      out += " (did you mean " + *best + "?)";
    }
  }
  return out;
}

}  // namespace loadns
