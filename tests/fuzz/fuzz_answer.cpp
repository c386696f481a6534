// Fuzz target: answer() on arbitrary bytes against a fixed snapshot (the unit tests' example
// source), over both transports. Beyond "no crash, no sanitizer report", every response must
// be a well-formed message that decodes completely, answer the query's ID with QR set, and
// stay within the transport's limit.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "server/core/answer.hpp"
#include "server/core/snapshot_builder.hpp"
#include "server/dns/header.hpp"
#include "tests/unit/core/example_source.hpp"
#include "tests/unit/dns/packet.hpp"

namespace {

using namespace loadns;

struct fixture {
  core::counter_registry counters;
  std::shared_ptr<const core::snapshot> snap;
  core::balancer bal{1};
  std::vector<std::uint8_t> out = std::vector<std::uint8_t>(65535);

  fixture() {
    auto built = core::build_snapshot(test::example_source(), core::clock::now(), 1, counters);
    if (!built.snap) std::abort();
    snap = built.snap;
  }
};

void check(bool ok) {
  if (!ok) std::abort();
}

void run(fixture& f, std::span<const std::uint8_t> query, core::transport t,
         const core::snapshot* snap) {
  core::answer_info info;
  const std::size_t n = core::answer(query, f.out, t, snap, f.bal, info);
  if (n == 0) return;
  check(n <= (t == core::transport::udp ? 1232u : 65535u));
  check(query.size() >= dns::header::size);
  const auto resp = std::span<const std::uint8_t>(f.out).first(n);
  const auto m = test::parse(resp);
  check(m.ok);
  check(m.qr);
  check(!m.ra);
  check(m.id == dns::header::id(query));
  check(m.edns == info.edns);
  check(m.tc == info.truncated);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fixture f;
  const std::span<const std::uint8_t> query(data, size);
  run(f, query, core::transport::udp, f.snap.get());
  run(f, query, core::transport::tcp, f.snap.get());
  run(f, query, core::transport::udp, nullptr);
  return 0;
}
