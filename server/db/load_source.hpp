#pragma once
// Internal to server/db (includes libpqxx): reads everything a snapshot is built from.

#include <pqxx/connection>

#include "server/core/snapshot.hpp"
#include "server/core/source.hpp"

namespace loadns::db {

/// One poll's rows and the moment, on this server's steady clock, that matches the
/// database's now() used for their report ages.
struct loaded_source {
  core::source src;
  core::clock::time_point db_now;
};

/// Reads zones, services, backends and records in one read-only REPEATABLE READ transaction
/// (one consistent picture), report_age = now() - reported_at on the database clock
/// (docs/schema.md), never negative. Effective values: draining = draining OR agent_draining,
/// capacity = coalesce(capacity, agent_capacity). Throws pqxx exceptions.
loaded_source load_source_at(pqxx::connection& conn);

/// load_source_at without the time point.
core::source load_source(pqxx::connection& conn);

}  // namespace loadns::db
