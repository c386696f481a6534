#include "agent/report/conninfo.hpp"

#include <libpq-fe.h>

#include <array>
#include <memory>
#include <utility>

namespace loadns::agent {
namespace {

struct option_list_deleter {
  void operator()(PQconninfoOption* p) const noexcept { PQconninfoFree(p); }
};

// key='value' with \ and ' escaped, as libpq's conninfo grammar reads it.
void append_pair(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) {
    out += ' ';
  }
  out.append(key);
  out += "='";
  for (const char c : value) {
    if (c == '\\' || c == '\'') {
      out += '\\';
    }
    out += c;
  }
  out += '\'';
}

bool is_secret(std::string_view key) {
  return key == "password" || key == "sslpassword";
}

constexpr std::array<std::pair<std::string_view, std::string_view>, 7> defaults{{
    {"connect_timeout", "5"},
    {"keepalives_idle", "10"},
    {"keepalives_interval", "5"},
    {"keepalives_count", "3"},
    {"tcp_user_timeout", "15000"},
    {"application_name", "loadns-agent"},
    {"target_session_attrs", "read-write"},
}};

}  // namespace

std::optional<conninfo> make_conninfo(std::string_view text, std::string& error) {
  const std::string copy(text);
  char* message = nullptr;
  const std::unique_ptr<PQconninfoOption, option_list_deleter> options(
      PQconninfoParse(copy.c_str(), &message));
  if (!options) {
    error = message != nullptr ? message : "out of memory";
    if (message != nullptr) {
      PQfreemem(message);
    }
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) {
      error.pop_back();
    }
    return std::nullopt;
  }

  conninfo out;
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) {
      continue;
    }
    const std::string_view key = o->keyword;
    append_pair(out.effective, key, o->val);
    append_pair(out.redacted, key, is_secret(key) ? "***" : o->val);
  }
  for (const auto& [key, value] : defaults) {
    bool given = false;
    for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
      if (o->val != nullptr && key == o->keyword) {
        given = true;
      }
    }
    if (given) {
      continue;
    }
    append_pair(out.effective, key, value);
    append_pair(out.redacted, key, value);
  }
  return out;
}

}  // namespace loadns::agent
