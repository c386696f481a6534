// Tests client/status.cpp: c-ares codes to rcode words and exit codes.
#include "client/status.hpp"

#include <ares.h>
#include <doctest/doctest.h>

using namespace loadns::client;

TEST_CASE("from_ares_status: every code a resolver meets has a word") {
  CHECK(from_ares_status(ARES_SUCCESS) == lookup_status::ok);
  CHECK(from_ares_status(ARES_ENODATA) == lookup_status::nodata);
  CHECK(from_ares_status(ARES_ENOTFOUND) == lookup_status::nxdomain);
  CHECK(from_ares_status(ARES_ESERVFAIL) == lookup_status::servfail);
  CHECK(from_ares_status(ARES_EREFUSED) == lookup_status::refused);
  CHECK(from_ares_status(ARES_EFORMERR) == lookup_status::formerr);
  CHECK(from_ares_status(ARES_ENOTIMP) == lookup_status::notimp);
  CHECK(from_ares_status(ARES_ETIMEOUT) == lookup_status::timeout);
  CHECK(from_ares_status(ARES_ECANCELLED) == lookup_status::timeout);
  CHECK(from_ares_status(ARES_ECONNREFUSED) == lookup_status::connection_refused);
  CHECK(from_ares_status(ARES_EBADRESP) == lookup_status::bad_response);
  CHECK(from_ares_status(ARES_EBADNAME) == lookup_status::bad_name);
  CHECK(from_ares_status(ARES_ENOMEM) == lookup_status::error);
}

TEST_CASE("to_string and exit_code") {
  CHECK(to_string(lookup_status::ok) == "NOERROR");
  CHECK(to_string(lookup_status::nxdomain) == "NXDOMAIN");
  CHECK(to_string(lookup_status::nodata) == "NODATA");
  CHECK(to_string(lookup_status::refused) == "REFUSED");
  CHECK(to_string(lookup_status::servfail) == "SERVFAIL");
  CHECK(to_string(lookup_status::timeout) == "TIMEOUT");
  CHECK(exit_code(lookup_status::ok) == 0);
  CHECK(exit_code(lookup_status::nxdomain) == 3);
  CHECK(exit_code(lookup_status::nodata) == 4);
  CHECK(exit_code(lookup_status::servfail) == 5);
  CHECK(exit_code(lookup_status::refused) == 6);
  CHECK(exit_code(lookup_status::timeout) == 7);
  CHECK(exit_code(lookup_status::connection_refused) == 8);
  CHECK(exit_code(lookup_status::formerr) == 8);
}
