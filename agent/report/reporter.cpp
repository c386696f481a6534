#include "agent/report/reporter.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include <exception>
#include <string_view>
#include <utility>

namespace loadns::agent {
namespace {

constexpr const char* statement = "loadns_report";

// libpq messages end with a newline and may span lines; logs want one line.
std::string one_line(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      if (!out.empty() && out.back() != ' ') {
        out += ' ';
      }
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  return out;
}

// Server errors come as "ERROR:  text\nLINE 1: ...\n  ^": the first line says it.
std::string first_line(std::string_view text) {
  return one_line(text.substr(0, text.find('\n')));
}

const char* or_null(const std::optional<std::string>& s) noexcept {
  return s ? s->c_str() : nullptr;  // nullptr: SQL NULL
}

}  // namespace

struct reporter::session {
  session(const std::string& conninfo, std::chrono::milliseconds timeout) : connection(conninfo) {
    // Per session, so they hold whatever the role's defaults are; a lock wait counts against
    // both, the lock timeout naming the cause in the error.
    const std::string ms = std::to_string(timeout.count());
    pqxx::nontransaction tx(connection);
    tx.exec("SET statement_timeout = " + ms);
    tx.exec("SET lock_timeout = " + ms);
    tx.commit();
    connection.prepare(statement, "SELECT loadns.report($1, $2, $3, $4, $5, $6, $7, $8, $9)");
  }
  pqxx::connection connection;
};

reporter::reporter(std::string conninfo, std::chrono::milliseconds sql_timeout, int stop_fd)
    : conninfo_(std::move(conninfo)), sql_timeout_(sql_timeout) {
  if (stop_fd >= 0) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ >= 0) {
      watcher_ = std::thread([this, stop_fd] { watch(stop_fd); });
    }
  }
}

reporter::~reporter() {
  if (watcher_.joinable()) {
    {
      const std::lock_guard lock(mutex_);
      quit_ = true;
    }
    changed_.notify_all();
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
    watcher_.join();
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
  }
}

void reporter::watch(int stop_fd) noexcept {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return quit_ || (busy_ && !cancelled_); });
      if (quit_) {
        return;
      }
    }
    pollfd fds[2] = {{stop_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      continue;  // EINTR
    }
    if ((fds[1].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto n = ::read(wake_fd_, &count, sizeof count);
      continue;  // the call ended (or shutdown): wait for the next one
    }
    if ((fds[0].revents & POLLIN) != 0) {
      const std::lock_guard lock(mutex_);
      if (busy_ && !cancelled_ && session_ != nullptr) {
        // PQcancel is made for this: it asks the server over a new connection to cancel
        // whatever the session runs, and is safe beside the thread blocked in the call.
        try {
          session_->connection.cancel_query();
        } catch (...) {  // nothing to cancel, or the server is away: the call ends anyway
        }
        cancelled_ = true;
      }
    }
  }
}

bool reporter::connected() const noexcept {
  return session_ != nullptr && session_->connection.is_open();
}

void reporter::disconnect() noexcept {
  try {
    const std::lock_guard lock(mutex_);
    session_.reset();
  } catch (...) {  // closing never matters more than going on
  }
}

reporter::outcome reporter::send(const report& r) noexcept {
  bool cancelled = false;
  const auto end_call = [&] {
    {
      const std::lock_guard lock(mutex_);
      busy_ = false;
      cancelled = cancelled_;
    }
    if (wake_fd_ >= 0) {
      const std::uint64_t one = 1;
      [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
    }
  };
  try {
    if (!connected()) {
      disconnect();
      auto fresh = std::make_unique<session>(conninfo_, sql_timeout_);
      const std::lock_guard lock(mutex_);
      session_ = std::move(fresh);
    }
    {
      const std::lock_guard lock(mutex_);
      busy_ = true;
      cancelled_ = false;
    }
    changed_.notify_all();
    pqxx::nontransaction tx(session_->connection);
    const std::string capacity = r.capacity ? std::to_string(*r.capacity) : std::string();
    const char* capacity_param = r.capacity ? capacity.c_str() : nullptr;  // nullptr: NULL
    const pqxx::result res = tx.exec_prepared(
        statement, r.service, r.name, r.address, static_cast<long long>(r.connections),
        capacity_param, r.draining, r.healthy, or_null(r.check_detail), or_null(r.second_address));
    end_call();
    outcome o{outcome::kind::ok, {}, 0};
    if (!res.empty() && !res[0][0].is_null()) {
      o.shed = res[0][0].as<long long>();
    }
    return o;
  } catch (const pqxx::broken_connection& e) {
    end_call();
    disconnect();
    return {outcome::kind::unreachable, one_line(e.what()), 0};
  } catch (const pqxx::sql_error& e) {
    end_call();
    // The server answered: the call was refused (a missing function, a privilege, an invalid
    // argument), timed out, or was cancelled. Keep a live connection; the next report retries.
    if (!connected()) {
      disconnect();
      return {outcome::kind::unreachable, first_line(e.what()), 0};
    }
    const std::string& state = e.sqlstate();
    if (state == "57014" && cancelled) {  // query_canceled, by us
      return {outcome::kind::cancelled, first_line(e.what()), 0};
    }
    if (state == "57014" || state == "55P03") {  // statement timeout, lock_not_available
      return {outcome::kind::timed_out, first_line(e.what()), 0};
    }
    return {outcome::kind::refused, first_line(e.what()), 0};
  } catch (const std::exception& e) {
    end_call();
    disconnect();
    return {outcome::kind::unreachable, one_line(e.what()), 0};
  } catch (...) {
    end_call();
    disconnect();
    return {outcome::kind::unreachable, "unknown error", 0};
  }
}

}  // namespace loadns::agent
