// Which connections --shed destroy closes (agent/shed/newest.cpp): the ones the agent saw
// first in its latest dumps, whatever their cookies (each CPU draws cookies from its own
// batch, so a later socket can carry a lower cookie).
#include "agent/shed/newest.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using loadns::agent::age_book;
using loadns::agent::diag_socket;
using loadns::agent::keep_newest;

namespace {

std::vector<diag_socket> sockets(const std::vector<std::uint64_t>& cookies) {
  std::vector<diag_socket> out;
  for (const auto c : cookies) {
    diag_socket s;
    s.cookie = c;
    out.push_back(s);
  }
  return out;
}

std::vector<std::uint64_t> cookies(const std::vector<diag_socket>& s) {
  std::vector<std::uint64_t> out;
  for (const auto& x : s) out.push_back(x.cookie);
  return out;
}

}  // namespace

TEST_CASE("keep_newest: first seen latest, not the highest cookie") {
  age_book ages;
  // Seven old connections, cookies from one CPU's batch (5000...).
  ages.observe(sockets({5001, 5002, 5003, 5004, 5005, 5006, 5007}));
  // Three new ones numbered on the other CPU, from a lower batch.
  auto now = sockets({5001, 5002, 5003, 5004, 5005, 5006, 5007, 1001, 1002, 1003});
  ages.observe(now);
  keep_newest(now, 3, ages);
  CHECK(cookies(now) == std::vector<std::uint64_t>{1003, 1002, 1001});
}

TEST_CASE("keep_newest: never seen counts as newest; ties by cookie; fewer than asked") {
  age_book ages;
  ages.observe(sockets({10, 20}));
  auto now = sockets({10, 20, 7});  // 7 appeared after the last dump
  keep_newest(now, 2, ages);
  CHECK(cookies(now) == std::vector<std::uint64_t>{7, 20});
  auto all = sockets({10, 20});
  keep_newest(all, 5, ages);
  CHECK(cookies(all) == std::vector<std::uint64_t>{20, 10});
}

TEST_CASE("age_book forgets closed connections and keeps the first dump of the others") {
  age_book ages;
  ages.observe(sockets({1, 2}));
  ages.observe(sockets({2, 3}));
  CHECK(ages.first_seen(2) == 1);
  CHECK(ages.first_seen(3) == 2);
  CHECK(ages.first_seen(1) == 3);  // gone: unknown again, as new as can be
}
