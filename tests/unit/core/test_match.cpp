#include "server/core/match.hpp"

#include <string>

#include <doctest/doctest.h>

#include "server/core/snapshot_builder.hpp"
#include "server/dns/name.hpp"
#include "tests/unit/core/example_source.hpp"

using namespace loadns;

namespace {

struct matcher {
  core::counter_registry counters;
  std::shared_ptr<const core::snapshot> snap;
  matcher() {
    auto built = core::build_snapshot(test::example_source(), core::clock::now(), 1, counters);
    REQUIRE(built.skipped.empty());
    snap = built.snap;
  }
  /// "service NAME", "node NAME", "zone NAME" (exists nowhere) or "none".
  std::string operator()(std::string_view name) const {
    dns::name_buffer buf{};
    std::size_t n = dns::from_text(name, buf);
    REQUIRE(n > 0);
    auto m = core::match(*snap, std::span<const std::uint8_t>(buf).first(n));
    if (m.zn == nullptr) return "none";
    if (m.svc != nullptr) return "service " + m.svc->name;
    if (m.node != nullptr) return "node " + m.node->text;
    return "zone " + m.zn->name;
  }
};

}  // namespace

TEST_CASE("match table") {
  matcher match;
  // name                                        what it is
  CHECK(match("api.example.com") == "service api.example.com");
  CHECK(match("API.EXAMPLE.COM") == "service api.example.com");
  CHECK(match("k3j9x.api.example.com") == "service api.example.com");
  CHECK(match("1596207957-api.example.com") == "service api.example.com");
  CHECK(match("a-b-api.example.com") == "service b-api.example.com");
  CHECK(match("a-c-api.example.com") == "service api.example.com");
  CHECK(match("_-_.api.example.com") == "service api.example.com");
  CHECK(match(std::string(48, 'n') + ".api.example.com") == "service api.example.com");
  CHECK(match(std::string(48, 'n') + "-api.example.com") == "service api.example.com");
  CHECK(match("x.api.eu.example.com") == "service api.eu.example.com");
  CHECK(match("x-api.eu.example.com") == "service api.eu.example.com");
  CHECK(match("strict.example.com") == "service strict.example.com");
  // Nothing looser.
  CHECK(match(std::string(49, 'n') + ".api.example.com") == "zone example.com");
  CHECK(match(std::string(49, 'n') + "-api.example.com") == "zone example.com");
  CHECK(match("evilapi.example.com") == "zone example.com");
  CHECK(match("x.y.api.example.com") == "zone example.com");
  CHECK(match("x-y.api.example.com") == "service api.example.com");  // nonce "x-y"
  CHECK(match("apix.example.com") == "zone example.com");
  CHECK(match("x-apix.example.com") == "zone example.com");
  CHECK(match("x+y.api.example.com") == "zone example.com");
  CHECK(match("-api.example.com") == "zone example.com");  // empty nonce
  CHECK(match("x-api.example.org") == "none");
  CHECK(match("k.strict.example.com") == "zone example.com");  // accept_nonce = false
  CHECK(match("k-strict.example.com") == "zone example.com");
  // Existing names are themselves.
  CHECK(match("www.example.com") == "node www.example.com");
  CHECK(match("eu.example.com") == "node eu.example.com");
  CHECK(match("example.com") == "node example.com");
  CHECK(match("child.example.com") == "node child.example.com");
  CHECK(match("x.child.example.com") == "zone child.example.com");
  CHECK(match("example.org") == "none");
  CHECK(match(".") == "none");
}

TEST_CASE("nonce alphabet and length") {
  auto valid = [](std::string_view s) {
    return core::valid_nonce({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
  };
  CHECK(valid("a"));
  CHECK(valid("AZaz09_-"));
  CHECK(valid(std::string(48, '7')));
  CHECK_FALSE(valid(""));
  CHECK_FALSE(valid(std::string(49, '7')));
  CHECK_FALSE(valid("a.b"));
  CHECK_FALSE(valid("a b"));
  CHECK_FALSE(valid("\xC3\xA9"));
}
