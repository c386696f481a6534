#include "server/db/errors.hpp"

#include <pqxx/except>

namespace loadns::db {

failure classify(const std::exception& e, const pqxx::connection* conn) noexcept {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) return failure::session;
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) return failure::session;
  if (conn == nullptr || !conn->is_open()) return failure::session;
  return failure::statement;
}

std::string one_line(std::string s) {
  for (auto& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string describe(const std::exception& e) {
  const std::string what = e.what();
  if (what == "Connection to database failed") return "the server closed the connection";
  return one_line(what);
}

}  // namespace loadns::db
