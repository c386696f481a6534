#include "common/conninfo.hpp"

#include <libpq-fe.h>

#include <memory>
#include <stdexcept>

namespace loadns {
namespace {

struct options_deleter {
  void operator()(PQconninfoOption* o) const noexcept { PQconninfoFree(o); }
};
using options_ptr = std::unique_ptr<PQconninfoOption, options_deleter>;

options_ptr parse(std::string_view conninfo, std::string& error) {
  char* err = nullptr;
  const std::string text(conninfo);
  options_ptr opts(PQconninfoParse(text.c_str(), &err));
  if (err != nullptr) {
    error = err;
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    PQfreemem(err);
  }
  return opts;
}

// key=value quoting: single quotes, with \ and ' escaped by a backslash (libpq 34.1.1).
std::string quote_value(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '\'' || c == '\\' || c == '\t' || c == '\n') return true;
  }
  return false;
}

void append_pair(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out += ' ';
  out += key;
  out += '=';
  out += needs_quotes(value) ? quote_value(value) : std::string(value);
}

}  // namespace

std::string redact_conninfo(std::string_view conninfo) {
  std::string error;
  auto opts = parse(conninfo, error);
  if (!opts) return "<unparsable conninfo>";
  std::string out;
  for (auto* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key = o->keyword;
    // The "*" dispchar marks secret options (password, and sslpassword in newer libpq).
    const bool secret = key == "password" || (o->dispchar != nullptr && o->dispchar[0] == '*');
    append_pair(out, key, secret ? std::string_view("********") : std::string_view(o->val));
  }
  return out;
}

std::string conninfo_with_defaults(
    std::string_view conninfo, const std::vector<std::pair<std::string, std::string>>& defaults) {
  std::string error;
  auto opts = parse(conninfo, error);
  if (!opts) throw std::invalid_argument("invalid database connection string: " + error);
  std::string out;
  std::vector<std::string> present;
  for (auto* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    append_pair(out, o->keyword, o->val);
    present.emplace_back(o->keyword);
  }
  for (const auto& [key, value] : defaults) {
    bool set = false;
    for (const auto& p : present) set = set || p == key;
    if (!set) append_pair(out, key, value);
  }
  return out;
}

}  // namespace loadns
