#include "tests/unit/core/example_source.hpp"

#include <string>

namespace loadns::test {

core::source minimal_source() {
  core::source s;
  s.zones.push_back({"example.com",
                     "ns1.example.com",
                     "hostmaster.example.com",
                     1,
                     3600,
                     600,
                     1209600,
                     60,
                     3600,
                     {"ns1.example.com"}});
  core::service_row api;
  api.name = "api.example.com";
  api.zone = "example.com";
  s.services.push_back(api);
  return s;
}

core::source example_source() {
  core::source s;
  s.zones.push_back({"example.com",
                     "ns1.example.com",
                     "hostmaster.example.com",
                     2024010101,
                     7200,
                     900,
                     1209600,
                     300,
                     3600,
                     {"ns1.example.com", "ns2.example.net"}});
  s.zones.push_back({"child.example.com",
                     "ns1.example.com",
                     "hostmaster.example.com",
                     7,
                     7200,
                     900,
                     1209600,
                     60,
                     600,
                     {"ns1.example.com"}});

  auto service = [&](std::string name, std::uint16_t answers = 1, bool nonce = true) {
    core::service_row row;
    row.name = std::move(name);
    row.zone = "example.com";
    row.ttl = 30;
    row.records_per_response = answers;
    row.accept_nonce = nonce;
    s.services.push_back(row);
  };
  service("api.example.com");
  service("multi.example.com", 3);
  service("strict.example.com", 1, false);
  service("api.eu.example.com");
  service("empty.example.com");
  service("v6.example.com");
  service("many.example.com", 48);
  service("b-api.example.com");

  std::int64_t id = 0;
  auto backend = [&](const std::string& svc, const std::string& address) {
    core::backend_row row;
    row.id = ++id;
    row.service = svc;
    row.name = "web" + std::to_string(id);
    row.address = address;
    s.backends.push_back(row);
  };
  backend("api.example.com", "192.0.2.1");
  backend("api.example.com", "192.0.2.2");
  backend("api.example.com", "2001:db8::1");
  for (int i = 11; i <= 13; ++i) backend("multi.example.com", "192.0.2." + std::to_string(i));
  backend("strict.example.com", "192.0.2.21");
  backend("api.eu.example.com", "192.0.2.31");
  backend("v6.example.com", "2001:db8::9");
  for (int i = 0; i < 48; ++i) backend("many.example.com", "2001:db8::" + std::to_string(100 + i));
  backend("b-api.example.com", "192.0.2.41");

  auto record = [&](std::string name, std::string type, std::string data, std::uint32_t ttl) {
    s.records.push_back({std::move(name), "example.com", std::move(type), ttl, std::move(data)});
  };
  record("ns1.example.com", "A", "192.0.2.53", 3600);
  record("ns1.example.com", "AAAA", "2001:db8::53", 3600);
  record("example.com", "MX", "10 mail.example.com", 3600);
  record("mail.example.com", "A", "192.0.2.25", 3600);
  record("example.com", "TXT", "\"v=spf1 -all\"", 3600);
  record("www.example.com", "CNAME", "api.example.com", 300);
  record("alias.example.com", "CNAME", "www.example.com", 300);
  record("out.example.com", "CNAME", "www.example.org", 300);
  record("dangling.example.com", "CNAME", "nowhere.example.com", 300);
  record("loop1.example.com", "CNAME", "loop2.example.com", 300);
  record("loop2.example.com", "CNAME", "loop1.example.com", 300);
  record("deep.a.b.example.com", "TXT", "deep", 300);
  record("api.example.com", "TXT", "\"service\" \"info\"", 300);
  return s;
}

}  // namespace loadns::test
