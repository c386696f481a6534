// answer() and DNS cookies (RFC 7873, RFC 9018): every COOKIE option answered with the
// client's cookie and ours, malformed ones FORMERR, the cookie-only query of RFC 7873 5.4,
// and what the rate limiter needs from a response (its subject, a truncated copy).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "server/core/answer.hpp"
#include "server/core/snapshot_builder.hpp"
#include "server/guard/cookie_secrets.hpp"
#include "tests/unit/core/example_source.hpp"
#include "tests/unit/dns/packet.hpp"

using namespace loadns;
using bytes = std::vector<std::uint8_t>;
using guard::cookie_verdict;

namespace {

constexpr guard::siphash_key secret{0xe5, 0xe9, 0x73, 0xe5, 0xa6, 0xb2, 0xa4, 0x3f,
                                    0x48, 0xe7, 0xdc, 0x84, 0x9e, 0x37, 0xbf, 0xcf};
constexpr std::uint32_t now = 1559731985;
const bytes client_cookie{0x24, 0x64, 0xc4, 0xab, 0xcf, 0x10, 0xc9, 0x57};
const bytes client_address{198, 51, 100, 100};

struct server {
  core::counter_registry counters;
  std::shared_ptr<const core::snapshot> snap;
  core::balancer bal{42};
  guard::cookie_secrets secrets{guard::cookie_keys{secret}};
  bytes out = bytes(65535);
  core::answer_info info;
  std::size_t length = 0;

  server() {
    auto built = core::build_snapshot(test::example_source(), core::clock::now(), 1, counters);
    REQUIRE(built.skipped.empty());
    snap = built.snap;
  }
  test::message ask(const bytes& query, bool cookies = true) {
    const core::client_info who{client_address, cookies ? &secrets : nullptr, now};
    length = core::answer(query, out, core::transport::udp, snap.get(), bal, info, who);
    REQUIRE(length > 0);
    auto m = test::parse(std::span<const std::uint8_t>(out).first(length));
    REQUIRE_MESSAGE(m.ok, m.error);
    return m;
  }
  /// The COOKIE option's value: the response's last option, when there is one.
  bytes reply_cookie() const {
    if (length < 28) return {};
    const auto* end = out.data() + length;
    if (end[-28] != 0 || end[-27] != 10 || end[-26] != 0 || end[-25] != 24) return {};
    return {end - 24, end};
  }
};

bytes query_with_cookie(std::string_view name, const bytes& cookie) {
  test::query_spec o;
  o.edns = true;
  o.options.push_back({10, cookie});
  return test::make_query(name, o);
}

bytes server_cookie_for(const bytes& cc) {
  std::array<std::uint8_t, 16> sc{};
  guard::make_server_cookie(secret, cc, client_address, now, sc);
  return {sc.begin(), sc.end()};
}

bytes concat(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("a client cookie alone: the answer as usual, with the client's cookie and ours") {
  server s;
  const auto m = s.ask(query_with_cookie("api.example.com", client_cookie));
  CHECK(m.rcode == "NOERROR");
  CHECK(m.answer.size() == 1);
  CHECK(m.edns_options == 1);
  CHECK(s.info.cookie == cookie_verdict::client_only);
  CHECK(s.reply_cookie() == concat(client_cookie, server_cookie_for(client_cookie)));
}

TEST_CASE("a valid server cookie is echoed and proves the client's address") {
  server s;
  const bytes full = concat(client_cookie, server_cookie_for(client_cookie));
  const auto m = s.ask(query_with_cookie("api.example.com", full));
  CHECK(m.rcode == "NOERROR");
  CHECK(s.info.cookie == cookie_verdict::valid);
  CHECK(s.reply_cookie() == full);
}

TEST_CASE("a server cookie not ours: answered as usual with a fresh cookie (RFC 7873 5.2.4)") {
  server s;
  bytes forged = concat(client_cookie, server_cookie_for(client_cookie));
  forged.back() ^= 1;
  const auto m = s.ask(query_with_cookie("api.example.com", forged));
  CHECK(m.rcode == "NOERROR");
  CHECK(m.answer.size() == 1);
  CHECK(s.info.cookie == cookie_verdict::invalid);
  CHECK(s.reply_cookie() == concat(client_cookie, server_cookie_for(client_cookie)));
}

TEST_CASE("a COOKIE option of a length RFC 7873 5.2.2 forbids is FORMERR") {
  server s;
  for (std::size_t length : {0UL, 5UL, 9UL, 15UL, 41UL}) {
    CAPTURE(length);
    const auto m = s.ask(query_with_cookie("api.example.com", bytes(length, 7)));
    CHECK(m.rcode == "FORMERR");
    CHECK(s.info.cookie == cookie_verdict::malformed);
  }
}

TEST_CASE("RFC 7873 5.4: a query with no question, only a cookie, gets the cookie back") {
  server s;
  bytes q = query_with_cookie("example.com", client_cookie);
  // Remove the question: header, then the OPT record from after the question.
  const std::size_t question_end = 12 + test::wire_name("example.com").size() + 4;
  bytes no_question(q.begin(), q.begin() + 12);
  no_question.insert(no_question.end(), q.begin() + static_cast<std::ptrdiff_t>(question_end),
                     q.end());
  no_question[5] = 0;  // QDCOUNT

  auto m = s.ask(no_question);
  CHECK(m.rcode == "BADCOOKIE");  // a client cookie alone: here is a server cookie
  CHECK(m.qdcount == 0);
  CHECK(m.answer.empty());
  CHECK(s.reply_cookie() == concat(client_cookie, server_cookie_for(client_cookie)));

  // With the server cookie it just got: NOERROR.
  const bytes full = concat(client_cookie, server_cookie_for(client_cookie));
  bytes again = no_question;
  const bytes valid = query_with_cookie("example.com", full);
  again.resize(12);
  again.insert(again.end(), valid.begin() + static_cast<std::ptrdiff_t>(question_end), valid.end());
  again[5] = 0;
  m = s.ask(again);
  CHECK(m.rcode == "NOERROR");
  CHECK(m.qdcount == 0);
  CHECK(s.info.cookie == cookie_verdict::valid);

  // No question and no cookie: FORMERR as before (RFC 9619).
  bytes bare = test::make_query("example.com");
  bare.resize(12);
  bare[5] = 0;
  CHECK(s.ask(bare).rcode == "FORMERR");
}

TEST_CASE("without cookie secrets a COOKIE option is ignored (RFC 7873 5.2.1)") {
  server s;
  const auto m = s.ask(query_with_cookie("api.example.com", client_cookie), false);
  CHECK(m.rcode == "NOERROR");
  CHECK(m.edns_options == 0);
  CHECK(s.info.cookie == cookie_verdict::none);
}

TEST_CASE("the rate limiter's subject: the service for nonce names, the zone for NXDOMAIN") {
  server s;
  auto text = [&] { return std::string(s.info.subject.begin(), s.info.subject.end()); };
  s.ask(test::make_query("k3j9x.api.example.com"));
  CHECK(text() == "api.example.com");
  s.ask(test::make_query("zz9.api.example.com"));
  CHECK(text() == "api.example.com");
  s.ask(test::make_query("nope.example.com"));
  CHECK(s.info.subject.size() == test::wire_name("example.com").size());
  s.ask(test::make_query("Nope2.example.com"));
  CHECK(std::equal(s.info.subject.begin(), s.info.subject.end(),
                   test::wire_name("example.com").begin()));
  const bytes www = test::make_query("WWW.example.com");  // the subject points into the query
  s.ask(www);
  CHECK(bytes(s.info.subject.begin(), s.info.subject.end()) == test::wire_name("WWW.example.com"));
  s.ask(test::make_query("example.org"));  // REFUSED: no zone, no subject
  CHECK(s.info.subject.empty());
}

TEST_CASE("a truncated copy keeps header, question and OPT with the cookie, TC set") {
  server s;
  const auto full = s.ask(query_with_cookie("multi.example.com", client_cookie));
  REQUIRE(full.answer.size() == 3);
  const std::size_t cut = core::truncate_to_question(s.out, s.length, s.info);
  s.length = cut;
  const auto m = test::parse(std::span<const std::uint8_t>(s.out).first(cut));
  REQUIRE_MESSAGE(m.ok, m.error);
  CHECK(m.tc);
  CHECK(m.answer.empty());
  CHECK(m.qdcount == 1);
  CHECK(m.edns);
  CHECK(s.reply_cookie() == concat(client_cookie, server_cookie_for(client_cookie)));

  const auto plain = s.ask(test::make_query("multi.example.com"));
  REQUIRE(plain.answer.size() == 3);
  const auto m2 = test::parse(std::span<const std::uint8_t>(s.out).first(
      core::truncate_to_question(s.out, s.length, s.info)));
  CHECK(m2.tc);
  CHECK(m2.answer.empty());
  CHECK_FALSE(m2.edns);
  CHECK(m2.qname_wire == test::wire_name("multi.example.com"));
}
