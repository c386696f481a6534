// Cost of core::answer() per query on one thread, without I/O: parse, match, balance, write.
// Prints ns/query for the common kinds of query against the unit tests' example snapshot.
//   bench_answer [--iterations N]      (default 2,000,000 per kind)
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "server/core/answer.hpp"
#include "server/core/snapshot_builder.hpp"
#include "tests/unit/core/example_source.hpp"
#include "tests/unit/dns/packet.hpp"

using namespace loadns;

namespace {

// CPU time of this thread: on a busy machine, wall time would count other processes' turns.
double thread_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct kind {
  const char* label;
  std::vector<std::vector<std::uint8_t>> queries;
};

std::vector<std::vector<std::uint8_t>> nonce_queries(const char* form, bool edns,
                                                     std::uint16_t qtype = 1) {
  std::vector<std::vector<std::uint8_t>> v;
  test::query_spec o;
  o.edns = edns;
  o.type = qtype;
  for (int i = 0; i < 64; ++i) {
    char name[128];
    std::snprintf(name, sizeof name, form, 1596207957 + i * 7919);
    v.push_back(test::make_query(name, o));
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 2'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::atol(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--iterations N]\n", argv[0]);
      return 2;
    }
  }
  if (iterations <= 0) return 2;

  core::counter_registry counters;
  auto built = core::build_snapshot(test::example_source(), core::clock::now(), 1, counters);
  if (!built.skipped.empty()) {
    const auto& row = built.skipped.front();
    std::fprintf(stderr, "snapshot: %s: %s\n", row.row.c_str(), row.reason.c_str());
    return 1;
  }
  core::balancer bal(7);
  std::vector<std::uint8_t> out(65535);

  test::query_spec plain;
  test::query_spec ns;
  ns.type = 2;
  const std::vector<kind> kinds{
      {"service A, <nonce>.api (UDP)", nonce_queries("%d.api.example.com", false)},
      {"service A, <nonce>-api + EDNS (UDP)", nonce_queries("%d-api.example.com", true)},
      {"service A x3, multi (UDP)", nonce_queries("%d.multi.example.com", false)},
      {"service AAAA x48, many (TCP)", nonce_queries("%d.many.example.com", false, 28)},
      {"NXDOMAIN + SOA", nonce_queries("%d.nope.example.com", false)},
      {"NS at apex + glue", {test::make_query("example.com", ns)}},
      {"REFUSED (no zone)", {test::make_query("www.example.org", plain)}},
  };

  std::printf("answer() on one thread, %ld queries per kind, thread CPU time\n", iterations);
  std::size_t sink = 0;
  for (const auto& k : kinds) {
    const auto t = std::strstr(k.label, "TCP") ? core::transport::tcp : core::transport::udp;
    core::answer_info info;
    for (const auto& q : k.queries) sink += core::answer(q, out, t, built.snap.get(), bal, info);
    const double start = thread_ns();
    for (long i = 0; i < iterations; ++i) {
      const auto& q = k.queries[static_cast<std::size_t>(i) % k.queries.size()];
      sink += core::answer(q, out, t, built.snap.get(), bal, info);
    }
    const double ns_per_query = (thread_ns() - start) / static_cast<double>(iterations);
    std::printf("  %-40s %7.1f ns/query  %6.2f M queries/s\n", k.label, ns_per_query,
                1e3 / ns_per_query);
  }
  return sink == 0 ? 1 : 0;
}
