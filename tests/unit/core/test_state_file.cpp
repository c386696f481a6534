#include "server/core/state_file.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "tests/unit/core/example_source.hpp"

using namespace loadns;
using std::chrono::milliseconds;

namespace {

constexpr std::int64_t saved_at = 1'780'000'000'000;  // ms since the epoch, a 2026 instant

// Every field away from its default, optionals set.
core::source full_source() {
  core::source s;
  core::zone_row z;
  z.name = "example.com";
  z.mname = "ns1.example.com";
  z.rname = "hostmaster.example.com";
  z.serial = 2026120501;
  z.refresh = 3600;
  z.retry = 600;
  z.expire = 604800;
  z.minimum = 300;
  z.ttl = 3601;
  z.nameservers = {"ns1.example.com", "ns2.example.net"};
  s.zones.push_back(z);
  core::service_row svc;
  svc.name = "api.example.com";
  svc.zone = "example.com";
  svc.ttl = 30;
  svc.records_per_response = 3;
  svc.accept_nonce = false;
  svc.policy = "least_connections";
  svc.stale_after = milliseconds(12'345);
  svc.min_serving = 2;
  svc.on_empty = "fail_closed";
  svc.slow_start = milliseconds(30'000);
  s.services.push_back(svc);
  core::backend_row b;
  b.id = 42;
  b.service = "api.example.com";
  b.name = "web1";
  b.address = "192.0.2.10";
  b.second_address = "2001:db8::10";
  b.enabled = false;
  b.draining = true;
  b.capacity = 1000;
  b.weight = 0.375;
  b.connections = 123;
  b.report_age = milliseconds(1500);
  b.agent_healthy = false;
  b.agent_check = "tcp 127.0.0.1:80: refused";
  b.in_service = milliseconds(-250);
  s.backends.push_back(b);
  core::record_row r;
  r.name = "www.example.com";
  r.zone = "example.com";
  r.type = "TXT";
  r.ttl = 77;
  r.data = "\"v=spf1 -all\" \"\\007\"";
  r.id = 9;
  s.records.push_back(r);
  return s;
}

core::source decoded(const std::string& bytes, std::int64_t now = saved_at) {
  auto d = core::decode_state(bytes, now);
  REQUIRE_MESSAGE(d.src, d.error);
  CHECK(d.error.empty());
  return *d.src;
}

std::string refused(const std::string& bytes) {
  const auto d = core::decode_state(bytes, saved_at);
  CHECK_FALSE(d.src);
  CHECK_FALSE(d.error.empty());
  return d.error;
}

}  // namespace

TEST_CASE("state file: round trip of the example source and of an empty one") {
  const auto src = test::example_source();
  const auto bytes = core::encode_state(src, saved_at);
  CHECK(bytes.substr(0, 8) == "LOADNSSF");
  const auto d = core::decode_state(bytes, saved_at);
  REQUIRE_MESSAGE(d.src, d.error);
  CHECK(*d.src == src);
  CHECK(d.saved_at_ms == saved_at);
  CHECK(decoded(core::encode_state(core::source{}, saved_at)) == core::source{});
}

TEST_CASE("state file: every field is kept") {
  const auto base = full_source();
  CHECK(decoded(core::encode_state(base, saved_at)) == base);
  // Each change of one field must come back changed: a field the format forgot would not.
  const std::vector<std::function<void(core::source&)>> changes = {
      [](auto& s) { s.zones[0].name = "example.org"; },
      [](auto& s) { s.zones[0].mname = "a.example.com"; },
      [](auto& s) { s.zones[0].rname = "b.example.com"; },
      [](auto& s) { s.zones[0].serial = 1; },
      [](auto& s) { s.zones[0].refresh = 1; },
      [](auto& s) { s.zones[0].retry = 1; },
      [](auto& s) { s.zones[0].expire = 1; },
      [](auto& s) { s.zones[0].minimum = 1; },
      [](auto& s) { s.zones[0].ttl = 1; },
      [](auto& s) { s.zones[0].nameservers.pop_back(); },
      [](auto& s) { s.services[0].name = "x.example.com"; },
      [](auto& s) { s.services[0].zone = "example.org"; },
      [](auto& s) { s.services[0].ttl = 1; },
      [](auto& s) { s.services[0].records_per_response = 65535; },
      [](auto& s) { s.services[0].accept_nonce = true; },
      [](auto& s) { s.services[0].policy = "least_load"; },
      [](auto& s) { s.services[0].stale_after = milliseconds(1); },
      [](auto& s) { s.services[0].min_serving = 0; },
      [](auto& s) { s.services[0].on_empty = "fail_open"; },
      [](auto& s) { s.services[0].slow_start = milliseconds(0); },
      [](auto& s) { s.backends[0].id = -7; },
      [](auto& s) { s.backends[0].service = "y.example.com"; },
      [](auto& s) { s.backends[0].name = "web2"; },
      [](auto& s) { s.backends[0].address = "2001:db8::1"; },
      [](auto& s) { s.backends[0].second_address.clear(); },
      [](auto& s) { s.backends[0].enabled = true; },
      [](auto& s) { s.backends[0].draining = false; },
      [](auto& s) { s.backends[0].capacity.reset(); },
      [](auto& s) { s.backends[0].capacity = 0; },
      [](auto& s) { s.backends[0].weight = 1e-300; },
      [](auto& s) { s.backends[0].connections = 0; },
      [](auto& s) { s.backends[0].report_age.reset(); },
      [](auto& s) { s.backends[0].report_age = milliseconds(0); },
      [](auto& s) { s.backends[0].agent_healthy.reset(); },
      [](auto& s) { s.backends[0].agent_healthy = true; },
      [](auto& s) { s.backends[0].agent_check.clear(); },
      [](auto& s) { s.backends[0].in_service.reset(); },
      [](auto& s) { s.backends[0].in_service = milliseconds(86'400'000); },
      [](auto& s) { s.records[0].name = "ftp.example.com"; },
      [](auto& s) { s.records[0].zone = "example.org"; },
      [](auto& s) { s.records[0].type = "MX"; },
      [](auto& s) { s.records[0].ttl = 0; },
      [](auto& s) { s.records[0].data = "10 mail.example.com"; },
      [](auto& s) { s.records[0].id = 10; },
      [](auto& s) { s.records.push_back(s.records[0]); },
      [](auto& s) { s.backends.push_back(s.backends[0]); },
  };
  for (std::size_t i = 0; i < changes.size(); ++i) {
    CAPTURE(i);
    auto changed = base;
    changes[i](changed);
    REQUIRE(changed != base);
    CHECK(decoded(core::encode_state(changed, saved_at)) == changed);
    CHECK_FALSE(core::same_state(changed, saved_at, base, saved_at));
  }
}

TEST_CASE("state file: ages are wall-clock instants, measured again when read") {
  const auto base = full_source();
  const auto bytes = core::encode_state(base, saved_at);
  // Read an hour later: the report is an hour older, the backend an hour longer in service.
  const auto later = decoded(bytes, saved_at + 3'600'000);
  CHECK(later.backends[0].report_age == milliseconds(1500 + 3'600'000));
  CHECK(later.backends[0].in_service == milliseconds(-250 + 3'600'000));
  // A clock that went back gives a report age of 0, never negative; serving_since may be ahead.
  const auto earlier = decoded(bytes, saved_at - 10'000);
  CHECK(earlier.backends[0].report_age == milliseconds(0));
  CHECK(earlier.backends[0].in_service == milliseconds(-10'250));
  // The next poll's ages, grown with the clock, are the same content: nothing to write.
  auto next = base;
  next.backends[0].report_age = milliseconds(1500 + 2000);
  next.backends[0].in_service = milliseconds(-250 + 2000);
  CHECK(core::same_state(next, saved_at + 2000, base, saved_at));
  CHECK(core::same_state(base, saved_at, base, saved_at));
  // Measuring them jitters by a poll's round trip: still the same, whatever second it is.
  next.backends[0].report_age = milliseconds(1500 + 2000 + 7);
  next.backends[0].in_service = milliseconds(-250 + 2000 - 7);
  CHECK(core::same_state(next, saved_at + 2000, base, saved_at));
  // A new report (a younger age at a later poll) is a change; so is an instant gone or added.
  next.backends[0].report_age = milliseconds(100);
  CHECK_FALSE(core::same_state(next, saved_at + 2000, base, saved_at));
  next = base;
  next.backends[0].in_service.reset();
  CHECK_FALSE(core::same_state(next, saved_at, base, saved_at));
  CHECK_FALSE(core::same_state(base, saved_at, next, saved_at));
}

TEST_CASE("state file: truncated, padded, flipped, foreign or of another version is refused") {
  const auto bytes = core::encode_state(full_source(), saved_at);
  SUBCASE("every truncation") {
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      CAPTURE(n);
      refused(bytes.substr(0, n));
    }
  }
  SUBCASE("every flipped bit of every octet") {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        CAPTURE(i);
        auto damaged = bytes;
        damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
        refused(damaged);
      }
    }
  }
  SUBCASE("a flipped payload octet names the checksum") {
    auto damaged = bytes;
    damaged[40] = static_cast<char>(damaged[40] ^ 0x5A);
    CHECK(refused(damaged).find("checksum") != std::string::npos);
  }
  SUBCASE("padding") {
    CHECK(refused(bytes + '\0').find("octets") != std::string::npos);
  }
  SUBCASE("wrong magic: another program's file, text") {
    auto foreign = bytes;
    foreign[0] = 'X';
    CHECK(refused(foreign).find("magic") != std::string::npos);
    CHECK(refused("zone example.com\n").find("magic") != std::string::npos);
    refused("");
  }
  SUBCASE("another version") {
    auto other = bytes;
    other[8] = static_cast<char>(core::state_file_version + 1);
    CHECK(refused(other).find("version") != std::string::npos);
  }
  SUBCASE("a valid checksum over a malformed payload") {
    // A writer's bug rather than damage: the checksum holds, the rows do not parse.
    std::string payload(8, '\0');
    payload += std::string("\xFF\xFF\xFF\x7F", 4);  // two billion zones in a few octets
    std::string file = "LOADNSSF";
    file += std::string("\x01\0\0\0", 4);
    for (int i = 0; i < 8; ++i) file += static_cast<char>(i == 0 ? payload.size() : 0);
    file += payload;
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : file) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ULL;
    }
    for (int i = 0; i < 8; ++i) file += static_cast<char>(h >> (8 * i));
    CHECK(refused(file).find("malformed payload") != std::string::npos);
  }
}
