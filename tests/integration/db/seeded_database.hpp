#pragma once
// Where most database cases start: a private cluster with the loadns database migrated (with
// the `agent` and `server` logins) and seeded by an operator's SQL, queried as the schema owner.

#include <string>
#include <string_view>

#include "tests/support/pg_cluster.hpp"

namespace loadns::test {

/// Zone example.com (nameservers ns1 and ns2) and service api.example.com, nothing more.
inline constexpr std::string_view api_example_com =
    "INSERT INTO loadns.zones (name, nameservers) VALUES "
    "('example.com', '{ns1.example.com,ns2.example.com}');"
    "INSERT INTO loadns.services (name) VALUES ('api.example.com');";

struct seeded_database {
  pg_cluster pg;

  explicit seeded_database(std::string_view seed = api_example_com) {
    pg.create_loadns_database();
    pg.psql(seed);
  }
  /// psql's output for `sql`, run as the schema owner.
  std::string q(const std::string& sql) const { return pg.psql(sql); }
};

}  // namespace loadns::test
