#pragma once
// A private PostgreSQL cluster for one test: started in a fresh temporary folder on a free
// 127.0.0.1 port by scripts/pg-cluster (the same script benches and the demo use), and
// destroyed with that folder when the object goes, whether the test passed or not.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace loadns::test {

class pg_cluster {
 public:
  /// initdb + start (trust auth, fsync off). Throws std::runtime_error with the script's
  /// output when the cluster cannot start.
  pg_cluster();
  /// Immediate shutdown and removal of the folder; never throws.
  ~pg_cluster();
  pg_cluster(const pg_cluster&) = delete;
  pg_cluster& operator=(const pg_cluster&) = delete;

  /// libpq key/value conninfo: "host=127.0.0.1 port=N dbname=DB user=USER".
  std::string conninfo(std::string_view db = "loadns", std::string_view user = "postgres") const;
  std::uint16_t port() const noexcept { return port_; }
  /// The cluster folder (data directory and unix socket inside).
  const std::filesystem::path& dir() const noexcept { return cluster_dir_; }

  /// Fast shutdown; the data stays. Clients see their connections closed.
  void stop();
  /// Starts the stopped (or killed) cluster again on the same port.
  void start();
  /// SIGKILLs the postmaster and its children: a crash, for fault tests. start() recovers.
  void kill();

  /// CREATE DATABASE db (empty).
  void create_database(std::string_view db);
  /// CREATE DATABASE db with the embedded migrations up to `last_version` only, each applied in
  /// a transaction of its own and recorded in loadns.schema_migrations as `loadns-server
  /// migrate` does (no login roles): a database as an older release left it, for upgrade
  /// tests, which then run loadns::db::migrate.
  void create_database_at(int last_version, std::string_view db = "loadns");
  /// An empty database, migrated (loadns::db::migrate, as `loadns-server migrate`), plus the
  /// login roles `agent` (member of loadns_agent) and `server` (member of loadns_server).
  void create_loadns_database(std::string_view db = "loadns");

  /// Runs `sql` with psql -XAtq -v ON_ERROR_STOP=1 as `user` on `db` and returns stdout
  /// (unaligned, tuples only: fields separated by '|', rows by '\n'). Throws
  /// std::runtime_error carrying psql's stderr when psql fails.
  std::string psql(std::string_view sql, std::string_view db = "loadns",
                   std::string_view user = "postgres") const;
  /// psql's error for `sql` as `user` on `db`, or "" when it succeeded: for tests that
  /// expect a statement to be refused.
  std::string psql_error(std::string_view sql, std::string_view user = "postgres",
                         std::string_view db = "loadns") const;

 private:
  std::string run_script(std::string_view command) const;

  std::filesystem::path base_dir_;     // ours: scratch files, and the cluster folder inside
  std::filesystem::path cluster_dir_;  // owned by the cluster user
  std::uint16_t port_ = 0;
};

/// Runs argv (argv[0] looked up in PATH) with `input` on stdin; returns the exit status
/// (-1 if it died of a signal) and fills out/err. Throws only when it cannot be started.
struct process_result {
  int status = 0;
  std::string out;
  std::string err;
};
process_result run_process(const std::vector<std::string>& argv, std::string_view input = {});

}  // namespace loadns::test
