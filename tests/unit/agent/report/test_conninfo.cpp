#include "agent/report/conninfo.hpp"

#include <doctest/doctest.h>

using loadns::agent::make_conninfo;

TEST_CASE("key=value conninfo: kept and completed with defaults with the password redacted") {
  std::string error;
  const auto c = make_conninfo("host=db.example.com port=5433 user=agent password=s3cr'et", error);
  REQUIRE(c);
  CHECK(c->effective.find("host=db.example.com") != std::string::npos);
  CHECK(c->effective.find("port=5433") != std::string::npos);
  CHECK(c->effective.find("password='s3cr\\'et'") != std::string::npos);
  CHECK(c->effective.find("connect_timeout=5") != std::string::npos);
  CHECK(c->effective.find("application_name=loadns-agent") != std::string::npos);
  CHECK(c->effective.find("target_session_attrs=read-write") != std::string::npos);
  CHECK(c->redacted.find("s3cr") == std::string::npos);
  CHECK(c->redacted.find("password=********") != std::string::npos);
  CHECK(c->redacted.find("user=agent") != std::string::npos);
}

TEST_CASE("URI conninfo: the password inside the URI is redacted and given options win") {
  std::string error;
  const auto c = make_conninfo(
      "postgresql://agent:hunter2@db1.example.com:5432,db2.example.com:5432/loadns"
      "?connect_timeout=2&target_session_attrs=any",
      error);
  REQUIRE(c);
  CHECK(c->redacted.find("hunter2") == std::string::npos);
  CHECK(c->effective.find("password=hunter2") != std::string::npos);
  CHECK(c->effective.find("host=db1.example.com,db2.example.com") != std::string::npos);
  CHECK(c->effective.find("connect_timeout=2") != std::string::npos);
  CHECK(c->effective.find("connect_timeout=5") == std::string::npos);
  CHECK(c->effective.find("target_session_attrs=any") != std::string::npos);
}

TEST_CASE("a conninfo libpq rejects is an error with libpq's reason") {
  std::string error;
  CHECK_FALSE(make_conninfo("host=a nonsense_option=1", error));
  CHECK(error.find("nonsense_option") != std::string::npos);
  CHECK_FALSE(make_conninfo("host='unterminated", error));
  CHECK_FALSE(error.empty());
}
