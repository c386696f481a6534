#include "server/core/zone_index.hpp"

#include <doctest/doctest.h>

#include "server/dns/name.hpp"

using namespace loadns;

namespace {

std::vector<std::uint8_t> w(std::string_view text) {
  auto s = dns::wire_from_text(text);
  return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("find is exact on lower-case wire names; closest_encloser walks up") {
  core::zone_index index;
  core::zone z;
  z.name = "example.com";
  z.wire = w("example.com");
  auto zi = index.add_zone(z);
  bool created = false;
  auto& apex = index.insert(w("example.com"), created);
  CHECK(created);
  apex.apex = true;
  apex.zone = zi;
  auto& www = index.insert(w("www.example.com"), created);
  www.zone = zi;
  index.insert(w("www.example.com"), created);
  CHECK_FALSE(created);
  CHECK(index.node_count() == 2);

  CHECK(index.find(w("www.example.com")) == &www);
  CHECK(index.find(w("ww.example.com")) == nullptr);
  CHECK(index.find(w("com")) == nullptr);

  auto e = index.closest_encloser(w("a.b.www.example.com"));
  CHECK(e.node == &www);
  CHECK(e.offset == 4);
  e = index.closest_encloser(w("other.example.com"));
  CHECK(e.node == &apex);
  CHECK(e.offset == 6);
  e = index.closest_encloser(w("example.com"));
  CHECK(e.offset == 0);
  CHECK(index.closest_encloser(w("example.org")).node == nullptr);
  CHECK(index.closest_encloser(w(".")).node == nullptr);
  CHECK(www.empty_non_terminal());
  CHECK_FALSE(apex.empty_non_terminal());
}
