// agent/health/http_probe: the check URL, the request and the status line.

#include "agent/health/http_probe.hpp"

#include <doctest/doctest.h>

using namespace loadns::agent;

TEST_CASE("check URLs: host, port, path, IPv6 literals; refusals say why") {
  std::string error;
  auto t = parse_http_url("http://127.0.0.1:8080/healthz?deep=1", error);
  REQUIRE(t);
  CHECK(t->host == "127.0.0.1");
  CHECK(t->port == 8080);
  CHECK(t->path == "/healthz?deep=1");
  CHECK(t->url() == "http://127.0.0.1:8080/healthz?deep=1");

  t = parse_http_url("http://[2001:db8::1]:81", error);
  REQUIRE(t);
  CHECK(t->host == "2001:db8::1");
  CHECK(t->port == 81);
  CHECK(t->path == "/");
  CHECK(t->url() == "http://[2001:db8::1]:81/");

  t = parse_http_url("http://backend.example", error);
  REQUIRE(t);
  CHECK(t->port == 80);

  for (const char* bad :
       {"https://a:1/", "http://:80/", "http://a:0/", "http://a:65536/", "http://a:x/",
        "http://u@a/", "http://[::1/", "http://a:80/p q", "http://a:/"}) {
    CAPTURE(bad);
    error.clear();
    CHECK_FALSE(parse_http_url(bad, error));
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("the GET names the host and closes the connection") {
  std::string error;
  const auto t = parse_http_url("http://[::1]:8080/h", error);
  REQUIRE(t);
  CHECK(build_http_get(*t) ==
        "GET /h HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: loadns-agent\r\nAccept: */*\r\n"
        "Connection: close\r\n\r\n");
}

TEST_CASE("status lines: complete, partial, malformed") {
  using kind = http_status::kind;
  CHECK(parse_http_status("HTTP/1.1 200 OK\r\n").code == 200);
  CHECK(parse_http_status("HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n").code == 503);
  CHECK(parse_http_status("HTTP/1.1 204 \r\n").what == kind::complete);
  CHECK(parse_http_status("HTTP/1.1 204\r\n").what == kind::complete);
  CHECK(parse_http_status("").what == kind::need_more);
  CHECK(parse_http_status("HTT").what == kind::need_more);
  CHECK(parse_http_status("HTTP/1.1 200 O").what == kind::need_more);
  CHECK(parse_http_status("SSH-2.0-OpenSSH\r\n").what == kind::malformed);
  CHECK(parse_http_status("SSH").what == kind::malformed);
  CHECK(parse_http_status("HTTP/2 200\r\n").what == kind::malformed);
  CHECK(parse_http_status("HTTP/1.1 20x OK\r\n").what == kind::malformed);
  CHECK(parse_http_status("HTTP/1.1 2000 OK\r\n").what == kind::malformed);
  CHECK(parse_http_status("HTTP/1.1 099 OK\r\n").what == kind::malformed);
  CHECK(parse_http_status("HTTP/1.1 200 " + std::string(9000, 'x')).what == kind::malformed);
}
