#include "server/net/responder.hpp"

#include <spdlog/spdlog.h>

#include <string>

#include "server/dns/header.hpp"
#include "server/dns/name.hpp"
#include "server/dns/query.hpp"
#include "server/net/socket_options.hpp"

namespace loadns::net {

responder::responder(const options& opts, const core::snapshot_holder& holder, std::uint64_t seed)
    : opts_(opts), snapshot_(holder), balancer_(seed) {}

std::size_t responder::handle(std::span<const std::uint8_t> query, std::span<std::uint8_t> out,
                              core::transport t, const sockaddr_storage& client) noexcept {
  core::answer_info info;
  const std::size_t len = core::answer(query, out, t, snapshot_.get(), balancer_, info);
  const auto proto = static_cast<std::size_t>(t);
  if (len == 0) {
    stats_.dropped[proto].add();
  } else {
    stats_.queries[proto][rcode_slot(info.rcode)][qtype_slot(info.qtype)].add();
  }
  if (opts_.query_log) [[unlikely]] {
    log_query(query, t, client, info, len);
  }
  return len;
}

void responder::log_query(std::span<const std::uint8_t> query, core::transport t,
                          const sockaddr_storage& client, const core::answer_info& info,
                          std::size_t response_length) noexcept {
  // Logging allocates; it is a debugging aid, off by default.
  try {
    std::string name = "(no question)";
    dns::query parsed;
    if (query.size() >= dns::header::size) {
      dns::read_query(query, parsed);
      if (parsed.question_ok) name = dns::to_text(parsed.q.wire);  // as sent, 0x20 case kept
    }
    spdlog::info("query from {} over {}: {} type {} -> rcode {}, {} bytes{}",
                 endpoint_address(client).to_string(), transport_names[static_cast<std::size_t>(t)],
                 name, info.qtype, info.rcode, response_length,
                 response_length == 0 ? " (dropped)"
                 : info.truncated     ? " (truncated)"
                                      : "");
  } catch (...) {  // NOLINT(bugprone-empty-catch): a lost log line must not lose the answer
  }
}

}  // namespace loadns::net
