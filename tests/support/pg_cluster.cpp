#include "tests/support/pg_cluster.hpp"

#include "server/db/migrate.hpp"
#include "server/db/migrations.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <pqxx/pqxx>
#include <stdexcept>
#include <system_error>

namespace loadns::test {
namespace {

std::string script_path() {
  if (const char* env = std::getenv("LOADNS_PG_CLUSTER")) return env;
  return LOADNS_PG_CLUSTER_SCRIPT;
}

std::string psql_path() {
  for (const char* p : {"/usr/lib/postgresql/15/bin/psql", "/usr/bin/psql"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "psql";
}

std::string trim(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

process_result run_process(const std::vector<std::string>& argv, std::string_view input) {
  if (argv.empty()) throw std::invalid_argument("run_process: empty argv");
  std::array<int, 2> in{-1, -1}, out{-1, -1}, err{-1, -1};
  if (::pipe2(in.data(), O_CLOEXEC) != 0 || ::pipe2(out.data(), O_CLOEXEC) != 0 ||
      ::pipe2(err.data(), O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execvp(args[0], args.data());
    const std::string msg = "exec " + argv[0] + ": " + std::strerror(errno) + "\n";
    [[maybe_unused]] auto n = ::write(2, msg.data(), msg.size());
    ::_exit(127);
  }
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  // Feed stdin and drain both outputs together so that no pipe fills up and deadlocks.
  ::signal(SIGPIPE, SIG_IGN);
  process_result r;
  std::size_t written = 0;
  if (input.empty()) close_fd(in[1]);
  while (out[0] >= 0 || err[0] >= 0) {
    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    auto add = [&](int fd, short ev) {
      if (fd >= 0) fds[n++] = pollfd{fd, ev, 0};
    };
    add(in[1], POLLOUT);
    add(out[0], POLLIN);
    add(err[0], POLLIN);
    if (::poll(fds.data(), n, -1) < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "poll");
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in[1]) {
        const auto w = ::write(in[1], input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 || written == input.size()) close_fd(in[1]);
        continue;
      }
      std::array<char, 8192> buf;
      const auto got = ::read(fds[i].fd, buf.data(), buf.size());
      int& fd = fds[i].fd == out[0] ? out[0] : err[0];
      std::string& sink = fds[i].fd == out[0] ? r.out : r.err;
      if (got > 0) {
        sink.append(buf.data(), static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close_fd(fd);
      }
    }
  }
  close_fd(in[1]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

pg_cluster::pg_cluster() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "loadns-pg-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
  }
  base_dir_ = tmpl;
  // The cluster runs as another user (postgres, when we are root) who must reach its folder.
  std::filesystem::permissions(base_dir_, std::filesystem::perms::owner_all |
                                              std::filesystem::perms::group_exec |
                                              std::filesystem::perms::others_exec);
  cluster_dir_ = base_dir_ / "pg";
  try {
    start();
  } catch (...) {
    std::error_code ec;
    run_process({script_path(), "destroy", cluster_dir_.string()});
    std::filesystem::remove_all(base_dir_, ec);
    throw;
  }
}

pg_cluster::~pg_cluster() {
  try {
    run_process({script_path(), "destroy", cluster_dir_.string()});
  } catch (...) {
    // Nothing to do: the folder removal below still runs.
  }
  std::error_code ec;
  std::filesystem::remove_all(base_dir_, ec);
}

std::string pg_cluster::run_script(std::string_view command) const {
  auto r = run_process({script_path(), std::string(command), cluster_dir_.string()});
  if (r.status != 0) {
    throw std::runtime_error("pg-cluster " + std::string(command) + " failed (" +
                             std::to_string(r.status) + "): " + r.err);
  }
  return trim(r.out);
}

std::string pg_cluster::conninfo(std::string_view db, std::string_view user) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + std::string(db) +
         " user=" + std::string(user);
}

void pg_cluster::start() {
  const auto out = run_script("start");
  const auto value = std::stoul(out);
  if (value == 0 || value > 65535) throw std::runtime_error("pg-cluster start printed " + out);
  port_ = static_cast<std::uint16_t>(value);
}

void pg_cluster::stop() {
  run_script("stop");
}

void pg_cluster::kill() {
  run_script("kill");
}

void pg_cluster::create_database(std::string_view db) {
  psql("CREATE DATABASE \"" + std::string(db) + "\"", "postgres");
}

void pg_cluster::create_database_at(int last_version, std::string_view db) {
  create_database(db);
  pqxx::connection c(conninfo(db));
  for (const auto& m : loadns::db::embedded_migrations()) {
    if (m.version > last_version) break;
    pqxx::work tx(c);
    tx.exec(std::string(m.sql));
    tx.exec_params(
        "INSERT INTO loadns.schema_migrations (version, name, checksum) "
        "VALUES ($1, $2, encode(sha256(convert_to($3, 'UTF8')), 'hex'))",
        m.version, std::string(m.name), std::string(m.sql));
    tx.commit();
  }
}

void pg_cluster::create_loadns_database(std::string_view db) {
  create_database(db);
  // Exactly what `loadns-server migrate` does.
  loadns::db::migrate(conninfo(db));
  psql(R"sql(
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agent') THEN CREATE ROLE agent LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'server') THEN CREATE ROLE server LOGIN; END IF;
END $$;
GRANT loadns_agent TO agent;
GRANT loadns_server TO server;
)sql",
       db);
}

std::string pg_cluster::psql_error(std::string_view sql, std::string_view user,
                                   std::string_view db) const {
  try {
    psql(sql, db, user);
    return {};
  } catch (const std::runtime_error& e) {
    return e.what();
  }
}

std::string pg_cluster::psql(std::string_view sql, std::string_view db,
                             std::string_view user) const {
  auto r = run_process({psql_path(), "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                        std::to_string(port_), "-U", std::string(user), "-d", std::string(db)},
                       sql);
  if (r.status != 0) {
    throw std::runtime_error("psql (" + std::string(user) + "@" + std::string(db) +
                             ") failed: " + trim(r.err));
  }
  return trim(r.out);
}

}  // namespace loadns::test
