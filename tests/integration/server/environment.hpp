#pragma once
// The world every end-to-end case of loadns-server runs in: a private PostgreSQL with the
// loadns schema, seeded by plain SQL as an operator would, and one server reading it as the
// read-only `server` role. Built once per test process (ctest runs each case in its own).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tests/support/dns_client.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/server_process.hpp"

namespace loadns::test::e2e {

/// The operator's SQL behind every case (zones example.com and example.net, services, backends
/// and static records; addresses from 192.0.2.0/24 and 2001:db8::/32).
extern const char* const seed_sql;

/// Server options for `pg` with the binary this test was built against.
server_options options_for(const pg_cluster& pg);

/// A private cluster with the loadns database, migrated and seeded by `seed` (plain SQL, as an
/// operator would), and no server yet: for cases that start servers of their own.
struct seeded_cluster {
  pg_cluster pg;

  explicit seeded_cluster(const char* seed = seed_sql);
};

/// A seeded cluster and a running server on it.
struct environment : seeded_cluster {
  std::unique_ptr<server_process> server;

  /// Seeds the cluster with `seed`, then starts the server with `options_for`.
  explicit environment(const char* seed = seed_sql);

  std::uint16_t port() const { return server->port(); }

  /// The process-wide instance on seed_sql, created on first use.
  static environment& shared();
};

/// The /metrics page of `s`: REQUIREs an answer with status 200 within 5 s.
std::string metrics_page(const server_process& s);

/// The value of the first series of `metric` on a /metrics `page` whose line contains `match`
/// ("" for any), or nullopt when there is none; HELP and TYPE lines do not count.
std::optional<double> sample(const std::string& page, const std::string& metric,
                             const std::string& match = "");

/// The shared server's DNS port.
inline std::uint16_t port() {
  return environment::shared().server->port();
}

}  // namespace loadns::test::e2e
