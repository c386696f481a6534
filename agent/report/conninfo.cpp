#include "agent/report/conninfo.hpp"

#include <stdexcept>

#include "common/conninfo.hpp"

namespace loadns::agent {

std::optional<conninfo> make_conninfo(std::string_view text, std::string& error) {
  try {
    // Defaults that keep the agent's single loop responsive when the database is away, and
    // send its writes to the primary (README, "Several servers, one PostgreSQL").
    std::string effective = conninfo_with_defaults(text, {
                                                             {"connect_timeout", "5"},
                                                             {"keepalives_idle", "10"},
                                                             {"keepalives_interval", "5"},
                                                             {"keepalives_count", "3"},
                                                             {"tcp_user_timeout", "15000"},
                                                             {"application_name", "loadns-agent"},
                                                             {"target_session_attrs", "read-write"},
                                                         });
    std::string redacted = redact_conninfo(effective);
    return conninfo{std::move(effective), std::move(redacted)};
  } catch (const std::invalid_argument& e) {
    error = e.what();
    return std::nullopt;
  }
}

}  // namespace loadns::agent
