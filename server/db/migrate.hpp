#pragma once
// Schema migrations (`loadns-server migrate`) and the start-up database check.

#include <string>
#include <vector>

namespace loadns::db {

struct migrate_result {
  std::vector<std::string> applied;  ///< names of the migrations this run applied, in order
};

/// Applies the pending embedded migrations in order, one transaction each, recording each in
/// loadns.schema_migrations. Holds a session advisory lock meanwhile, so concurrent runs
/// (several servers starting at once) are safe: the second waits, then finds nothing to do.
/// Idempotent. Throws std::runtime_error with a message naming the failing migration or
/// the (redacted) connection that failed.
migrate_result migrate(const std::string& conninfo);

/// Connects and checks that every embedded migration is applied and that the tables the
/// server reads are readable by this role. Throws std::runtime_error explaining what is
/// wrong and how to fix it.
void check_connection(const std::string& conninfo);

}  // namespace loadns::db
