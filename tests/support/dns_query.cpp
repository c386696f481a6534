#include "tests/support/dns_query.hpp"

namespace loadns::test {
namespace {

void put16(std::vector<std::uint8_t>& out, unsigned v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

}  // namespace

void append_name(std::vector<std::uint8_t>& out, std::string_view name) {
  while (!name.empty() && name.back() == '.') name.remove_suffix(1);
  while (!name.empty()) {
    const auto dot = name.find('.');
    const auto label = name.substr(0, dot);
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  out.push_back(0);
}

std::vector<std::uint8_t> wire_name(std::string_view name) {
  std::vector<std::uint8_t> w;
  append_name(w, name);
  return w;
}

std::vector<std::uint8_t> make_query(const query_spec& spec) {
  std::vector<std::uint8_t> out;
  out.reserve(64);
  put16(out, spec.id);
  put16(out, (spec.qr ? 0x8000u : 0u) | ((spec.opcode & 0xfu) << 11) | (spec.rd ? 0x0100u : 0u) |
                 (spec.cd ? 0x0010u : 0u));
  put16(out, 1);                  // QDCOUNT
  put16(out, 0);                  // ANCOUNT
  put16(out, 0);                  // NSCOUNT
  put16(out, spec.edns ? 1 : 0);  // ARCOUNT
  append_name(out, spec.name);
  put16(out, spec.type);
  put16(out, spec.qclass);
  if (spec.edns) {
    out.push_back(0);  // root owner
    put16(out, rr_type::opt);
    put16(out, spec.udp_size);  // CLASS = requestor's UDP payload size
    out.push_back(0);           // extended RCODE
    out.push_back(spec.edns_version);
    put16(out, (spec.do_bit ? 0x8000u : 0u) | spec.z_flags);
    std::vector<std::uint8_t> rdata;
    for (const auto& [code, value] : spec.options) {
      put16(rdata, code);
      put16(rdata, static_cast<unsigned>(value.size()));
      rdata.insert(rdata.end(), value.begin(), value.end());
    }
    put16(out, static_cast<unsigned>(rdata.size()));  // RDLENGTH
    out.insert(out.end(), rdata.begin(), rdata.end());
  }
  return out;
}

std::vector<std::uint8_t> make_query(std::string_view name, query_spec spec) {
  spec.name = std::string(name);
  return make_query(spec);
}

}  // namespace loadns::test
