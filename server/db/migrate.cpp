#include "server/db/migrate.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <pqxx/pqxx>
#include <stdexcept>

#include "common/conninfo.hpp"
#include "server/db/migrations.hpp"

namespace loadns::db {
namespace {

// pg_advisory_lock key: "loadns" in ASCII. Advisory locks are per database, like the schema.
constexpr long long migrate_lock_key = 0x6c6f61646e73;

// Created before any migration runs, so that the table recording them exists; identical to
// its definition in schema/schema.sql and migrations/0001.
constexpr const char* bootstrap_sql = R"sql(
CREATE SCHEMA IF NOT EXISTS loadns;
CREATE TABLE IF NOT EXISTS loadns.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone NOT NULL DEFAULT now()
);
)sql";

// The migration's checksum, computed by the database from parameter `param`.
std::string checksum_sql(int param) {
  return "encode(sha256(convert_to($" + std::to_string(param) + ", 'UTF8')), 'hex')";
}

std::unique_ptr<pqxx::connection> connect(const std::string& conninfo, const char* purpose) {
  try {
    return std::make_unique<pqxx::connection>(conninfo);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(purpose) + ": cannot connect to the database (" +
                             redact_conninfo(conninfo) + "): " + e.what());
  }
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

migrate_result migrate(const std::string& conninfo) {
  auto conn = connect(conninfo, "migrate");
  migrate_result result;
  try {
    {
      pqxx::nontransaction tx(*conn);
      tx.exec("SET client_min_messages = warning");
      tx.exec("SELECT pg_advisory_lock(" + std::to_string(migrate_lock_key) + ")");
    }
    {
      pqxx::work tx(*conn);
      tx.exec(bootstrap_sql);
      tx.commit();
    }
    std::map<int, std::string> applied;  // version -> checksum
    {
      pqxx::read_transaction tx(*conn);
      for (const auto& row : tx.exec("SELECT version, checksum FROM loadns.schema_migrations")) {
        applied.emplace(row[0].as<int>(), row[1].as<std::string>());
      }
    }
    for (const auto& m : embedded_migrations()) {
      const std::string sql(m.sql);
      if (auto it = applied.find(m.version); it != applied.end()) {
        pqxx::read_transaction tx(*conn);
        const auto sum = tx.exec_params1("SELECT " + checksum_sql(1), sql)[0];
        if (sum.as<std::string>() != it->second) {
          spdlog::warn("migration {} was changed after it was applied; it is not run again",
                       m.name);
        }
        continue;
      }
      try {
        pqxx::work tx(*conn);
        tx.exec(sql);
        tx.exec_params(std::string("INSERT INTO loadns.schema_migrations (version, name, checksum) "
                                   "VALUES ($1, $2, ") +
                           checksum_sql(3) + ")",
                       m.version, std::string(m.name), sql);
        tx.commit();
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const std::exception& e) {
        throw std::runtime_error("migration " + std::string(m.name) +
                                 " failed (nothing of it was applied): " + trimmed(e.what()));
      }
      spdlog::info("applied migration {}", m.name);
      result.applied.emplace_back(m.name);
    }
    const int newest = embedded_migrations().empty() ? 0 : embedded_migrations().back().version;
    if (!applied.empty() && applied.rbegin()->first > newest) {
      spdlog::warn("the database has migration {} but this binary knows only up to {}: it is newer",
                   applied.rbegin()->first, newest);
    }
    {
      pqxx::nontransaction tx(*conn);
      tx.exec("SELECT pg_advisory_unlock(" + std::to_string(migrate_lock_key) + ")");
    }
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
      throw std::runtime_error("migrate: lost the database connection (" +
                               redact_conninfo(conninfo) + "): " + trimmed(e.what()));
    }
    if (dynamic_cast<const pqxx::failure*>(&e) != nullptr) {
      throw std::runtime_error("migrate: " + trimmed(e.what()));
    }
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error("migrate: " + trimmed(e.what()));
  }
  return result;
}

void check_connection(const std::string& conninfo) {
  auto conn = connect(conninfo, "database check");
  const std::string where = " (" + redact_conninfo(conninfo) + ")";
  try {
    pqxx::read_transaction tx(*conn);
    const auto has_table =
        tx.exec1("SELECT to_regclass('loadns.schema_migrations') IS NOT NULL")[0].as<bool>();
    if (!has_table) {
      throw std::runtime_error("the database has no loadns schema" + where +
                               ": run `loadns-server migrate --db ...` first");
    }
    std::map<int, bool> done;
    for (const auto& row : tx.exec("SELECT version FROM loadns.schema_migrations")) {
      done[row[0].as<int>()] = true;
    }
    for (const auto& m : embedded_migrations()) {
      if (done.count(m.version) == 0) {
        throw std::runtime_error("the database schema is not up to date" + where + ": migration " +
                                 std::string(m.name) +
                                 " is missing; run `loadns-server migrate --db ...`");
      }
    }
    for (const char* table : {"zones", "services", "backends", "records"}) {
      tx.exec(std::string("SELECT 1 FROM loadns.") + table + " LIMIT 1");
    }
  } catch (const pqxx::insufficient_privilege& e) {
    throw std::runtime_error("the database role cannot read the loadns tables" + where + ": " +
                             trimmed(e.what()) + " (GRANT loadns_server TO the server's role)");
  } catch (const pqxx::sql_error& e) {
    throw std::runtime_error("database check failed" + where + ": " + trimmed(e.what()));
  } catch (const pqxx::failure& e) {
    throw std::runtime_error("database check failed" + where + ": " + trimmed(e.what()));
  }
}

}  // namespace loadns::db
