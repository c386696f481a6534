#pragma once
// The SQL migrations, embedded into the binary at build time from migrations/*.sql.

#include <span>
#include <string_view>

namespace loadns::db {

struct migration {
  int version;            ///< 1, 2, ... (the file's NNNN prefix)
  std::string_view name;  ///< the file name without .sql, e.g. "0001_initial_schema"
  std::string_view sql;   ///< the file's text, run in one transaction
};

/// Every migration, in version order, without gaps.
std::span<const migration> embedded_migrations() noexcept;

}  // namespace loadns::db
