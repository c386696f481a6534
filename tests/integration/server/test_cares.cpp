// c-ares, the library loadns-resolve uses, resolving against the server over UDP and TCP.

#include <ares.h>

#include <set>
#include <string>

#include "client/nonce.hpp"
#include "client/resolver.hpp"
#include "tests/integration/server/environment.hpp"

namespace {

using loadns::test::cares_resolve;
using loadns::test::e2e::port;

}  // namespace

TEST_CASE("c-ares resolves service names, nonce names and static names") {
  const std::set<std::string> api{"192.0.2.10", "192.0.2.11"};
  for (bool tcp : {false, true}) {
    INFO(std::string(tcp ? "tcp" : "udp"));
    for (const std::string name :
         {"api.example.com", "1596207957-api.example.com", "k3j9x.api.example.com"}) {
      INFO(name);
      const auto r = cares_resolve(port(), name, false, tcp);
      REQUIRE_MESSAGE(r.status == ARES_SUCCESS, r.status_text);
      REQUIRE(r.addresses.size() == 1);
      CHECK(api.count(r.addresses[0]) == 1);
      CHECK(r.ttls[0] == 60);
    }
    auto r = cares_resolve(port(), "k3j9x.dual.example.com", true, tcp);
    REQUIRE_MESSAGE(r.status == ARES_SUCCESS, r.status_text);
    CHECK(r.addresses == std::vector<std::string>{"2001:db8::20"});

    r = cares_resolve(port(), "www.example.com", false, tcp);
    REQUIRE_MESSAGE(r.status == ARES_SUCCESS, r.status_text);
    CHECK(r.addresses == std::vector<std::string>{"192.0.2.80"});

    r = cares_resolve(port(), "alias.example.com", false, tcp);  // through the CNAME
    REQUIRE_MESSAGE(r.status == ARES_SUCCESS, r.status_text);
    CHECK(r.addresses == std::vector<std::string>{"192.0.2.80"});

    r = cares_resolve(port(), "big.example.com", false, tcp);
    REQUIRE_MESSAGE(r.status == ARES_SUCCESS, r.status_text);
    CHECK(r.addresses.size() == 40);
  }
}

TEST_CASE("c-ares sees NXDOMAIN, NODATA and REFUSED as such") {
  for (bool tcp : {false, true}) {
    INFO(std::string(tcp ? "tcp" : "udp"));
    CHECK(cares_resolve(port(), "evilapi.example.com", false, tcp).status == ARES_ENOTFOUND);
    CHECK(cares_resolve(port(), "api.example.com", true, tcp).status == ARES_ENODATA);
    CHECK(cares_resolve(port(), "www.google.com", false, tcp).status == ARES_EREFUSED);
  }
}

TEST_CASE("the reference client (loadns::client::resolver) resolves fresh nonce names") {
  using loadns::client::lookup_status;
  using loadns::client::nonce_style;
  using loadns::client::record_type;
  loadns::client::resolver_options options;
  options.servers = "127.0.0.1:" + std::to_string(port());
  options.timeout = std::chrono::seconds(3);
  loadns::client::resolver resolver(options);
  const std::set<std::string> api{"192.0.2.10", "192.0.2.11"};
  std::set<std::string> names;
  for (int i = 0; i < 20; ++i) {
    for (auto style : {nonce_style::dash, nonce_style::label}) {
      std::string name;
      REQUIRE(!loadns::client::make_nonce_name("api.example.com", style, name));
      INFO(name);
      CHECK(names.insert(name).second);  // a fresh name every time
      const auto r = resolver.resolve(name, record_type::a);
      REQUIRE_MESSAGE(r.status == lookup_status::ok, r.detail);
      REQUIRE(r.addresses.size() == 1);
      CHECK(api.count(r.addresses[0]) == 1);
    }
  }
  CHECK(resolver.resolve("k3j9x.api.example.com", record_type::aaaa).status ==
        lookup_status::nodata);
  CHECK(resolver.resolve("x.y.api.example.com", record_type::a).status == lookup_status::nxdomain);
  CHECK(resolver.resolve("www.google.com", record_type::a).status == lookup_status::refused);
}
