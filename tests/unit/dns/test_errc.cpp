#include "server/dns/errc.hpp"

#include <ostream>

#include <doctest/doctest.h>

using loadns::dns::errc;

TEST_CASE("dns errc converts to std::error_code with a readable message") {
  std::error_code ec = errc::name_too_long;
  CHECK(ec);
  CHECK(std::string(ec.category().name()) == "loadns.dns");
  CHECK(ec.message() == "name longer than 255 octets");
  CHECK(ec == errc::name_too_long);
  CHECK(ec != errc::label_too_long);
  CHECK_FALSE(std::error_code(errc{}));
}
