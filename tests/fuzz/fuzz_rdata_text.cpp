// Fuzz target: record data from presentation form to wire form (dns/rdata_text.cpp), the
// text every records row goes through, and the snapshot builder around it. The first input
// byte picks the type (the served ones in several cases, and one not served); the rest is the
// data. Beyond "no crash, no sanitizer report": accepted data has the wire form of its type
// (a TXT is length-prefixed strings filling the RDATA exactly, within 65,535 octets; a name
// is a valid wire name), refused data says why, and a snapshot with the row as a record
// builds, with the row in it exactly when the data is accepted (and fits an RRset) and left
// out otherwise.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/core/snapshot_builder.hpp"
#include "server/dns/rdata_text.hpp"
#include "server/dns/types.hpp"
#include "tests/unit/core/example_source.hpp"

namespace {

namespace core = loadns::core;
namespace dns = loadns::dns;

void check(bool ok) {
  if (!ok) std::abort();
}

/// Whether `w` is exactly one uncompressed wire name: labels of 1..63, 255 octets at most.
bool is_wire_name(std::span<const std::uint8_t> w) {
  std::size_t at = 0;
  while (at < w.size()) {
    const std::size_t label = w[at];
    if (label == 0) return at + 1 == w.size() && w.size() <= 255;
    if (label > 63) return false;
    at += 1 + label;
  }
  return false;
}

void check_wire(std::uint16_t rrtype, const std::vector<std::uint8_t>& rdata) {
  switch (rrtype) {
    case dns::type::a:
      check(rdata.size() == 4);
      break;
    case dns::type::aaaa:
      check(rdata.size() == 16);
      break;
    case dns::type::cname:
      check(is_wire_name(rdata));
      break;
    case dns::type::mx:
      check(rdata.size() > 2 && is_wire_name(std::span(rdata).subspan(2)));
      break;
    case dns::type::txt: {
      check(!rdata.empty() && rdata.size() <= 0xFFFF);
      std::size_t at = 0;
      while (at < rdata.size()) at += 1 + std::size_t{rdata[at]};
      check(at == rdata.size());
      break;
    }
    default:
      check(false);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* const types[] = {"A", "AAAA", "CNAME", "MX", "TXT", "txt", "Mx", "SRV"};
  const std::string type = types[data[0] % 8];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);  // NOLINT

  std::uint16_t rrtype = 0;
  std::vector<std::uint8_t> rdata;
  std::string error;
  const bool ok = dns::rdata_from_text(type, text, rrtype, rdata, error);
  if (ok) {
    check(error.empty());
    check_wire(rrtype, rdata);
  } else {
    check(!error.empty());
  }
  // The same text must give the same verdict and bytes (nothing depends on the last call).
  std::uint16_t again_type = 0;
  std::vector<std::uint8_t> again;
  std::string again_error;
  check(dns::rdata_from_text(type, text, again_type, again, again_error) == ok);
  if (ok) check(again_type == rrtype && again == rdata);

  // Through the builder: the row at a plain name, at the service's name and twice over; the
  // snapshot always builds.
  core::source src = loadns::test::minimal_source();
  src.records.push_back({"f.example.com", "example.com", type, 60, text, 1});
  src.records.push_back({"f.example.com", "example.com", type, 60, text, 2});
  src.records.push_back({"api.example.com", "example.com", type, 60, text, 3});
  core::counter_registry counters;
  const auto built = core::build_snapshot(src, core::clock::now(), 1, counters);
  check(built.snap != nullptr);
  bool first_skipped = false;
  for (const auto& s : built.skipped) {
    check(s.table == core::table::records && !s.reason.empty());
    if (s.row.rfind("record 1 ", 0) == 0) first_skipped = true;
  }
  check(first_skipped == (!ok || 12 + rdata.size() > core::max_rrset_octets));
  return 0;
}
