#include "agent/report/reporter.hpp"

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

}  // namespace

struct reporter::session {
  explicit session(const std::string& conninfo) : connection(conninfo) {
    connection.prepare(statement, "SELECT loadns.report($1, $2, $3, $4, $5, $6)");
  }
  pqxx::connection connection;
};

reporter::reporter(std::string conninfo) : conninfo_(std::move(conninfo)) {}

reporter::~reporter() = default;

bool reporter::connected() const noexcept {
  return session_ != nullptr && session_->connection.is_open();
}

void reporter::disconnect() noexcept {
  try {
    session_.reset();
  } catch (...) {  // closing never matters more than going on
  }
}

reporter::outcome reporter::send(const report& r) noexcept {
  try {
    if (!connected()) {
      disconnect();
      session_ = std::make_unique<session>(conninfo_);
    }
    pqxx::nontransaction tx(session_->connection);
    const std::string capacity = r.capacity ? std::to_string(*r.capacity) : std::string();
    const char* capacity_param = r.capacity ? capacity.c_str() : nullptr;  // nullptr: NULL
    tx.exec_prepared(statement, r.service, r.name, r.address, static_cast<long long>(r.connections),
                     capacity_param, r.draining);
    return {outcome::kind::ok, {}};
  } catch (const pqxx::broken_connection& e) {
    disconnect();
    return {outcome::kind::unreachable, one_line(e.what())};
  } catch (const pqxx::sql_error& e) {
    // The server answered: the call was refused (a missing function, a privilege, an invalid
    // argument). Keep a live connection; the next report retries.
    if (!connected()) {
      disconnect();
      return {outcome::kind::unreachable, first_line(e.what())};
    }
    return {outcome::kind::refused, first_line(e.what())};
  } catch (const std::exception& e) {
    disconnect();
    return {outcome::kind::unreachable, one_line(e.what())};
  } catch (...) {
    disconnect();
    return {outcome::kind::unreachable, "unknown error"};
  }
}

}  // namespace loadns::agent
