// Conninfo handling is pure string work over libpq's parser (no server needed).
#include "common/conninfo.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using loadns::conninfo_with_defaults;
using loadns::redact_conninfo;

TEST_CASE("redact_conninfo hides the password in both conninfo forms") {
  CHECK(redact_conninfo("host=db1 port=5432 dbname=loadns user=server password=hunter2") ==
        "user=server password=******** dbname=loadns host=db1 port=5432");
  const auto uri = redact_conninfo("postgresql://server:hunter2@db1,db2:5433/loadns");
  CHECK(uri.find("hunter2") == std::string::npos);
  CHECK(uri.find("host=db1,db2") != std::string::npos);
  CHECK(redact_conninfo("host='unterminated password=hunter2") == "<unparsable conninfo>");
}

TEST_CASE("conninfo_with_defaults adds only what is missing") {
  CHECK(conninfo_with_defaults("host=db1 connect_timeout=2",
                               {{"connect_timeout", "5"}, {"application_name", "x y"}}) ==
        "connect_timeout=2 host=db1 application_name='x y'");
  CHECK(conninfo_with_defaults("postgresql:///loadns?host=/tmp/a%20b", {}) ==
        "dbname=loadns host='/tmp/a b'");
  CHECK_THROWS_AS(conninfo_with_defaults("nonsense", {}), std::invalid_argument);
}
