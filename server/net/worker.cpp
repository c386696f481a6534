#include "server/net/worker.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "server/dns/header.hpp"
#include "server/dns/name.hpp"
#include "server/dns/query.hpp"
#include "server/net/socket_options.hpp"
#include "server/net/tcp_listener.hpp"
#include "server/net/udp_listener.hpp"

namespace loadns::net {

namespace asio = boost::asio;

worker::worker(unsigned index, const options& opts, const core::snapshot_holder& holder,
               std::atomic<unsigned>& tcp_open)
    : index_(index),
      opts_(opts),
      snapshot_(holder),
      balancer_(std::random_device{}() ^ (std::uint64_t{index} << 32)),
      tcp_open_(tcp_open) {}

worker::~worker() = default;

void worker::open(bool optional_v6) {
  for (const auto& at : opts_.listen) {
    try {
      auto udp = std::make_unique<udp_listener>(io_, at, *this);
      auto tcp = std::make_unique<tcp_listener>(
          io_, asio::ip::tcp::endpoint(at.address(), at.port()), *this);
      udp_.push_back(std::move(udp));
      tcp_.push_back(std::move(tcp));
    } catch (const boost::system::system_error& e) {
      if (optional_v6 && at.address().is_v6()) {
        if (index_ == 0)
          spdlog::warn("not listening on [{}]:{}: {}", at.address().to_string(), at.port(),
                       e.code().message());
        continue;
      }
      throw std::system_error(e.code(), "cannot listen on " + at.address().to_string() + " port " +
                                            std::to_string(at.port()));
    }
  }
}

void worker::run() {
  for (auto& l : udp_) l->start();
  for (auto& l : tcp_) l->start();
  io_.run();
}

void worker::stop() {
  asio::post(io_, [this] {
    for (auto& l : udp_) l->close();
    for (auto& l : tcp_) l->close();
    io_.stop();
  });
}

void worker::log_query(std::span<const std::uint8_t> query, core::transport t,
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

std::size_t worker::handle(std::span<const std::uint8_t> query, std::span<std::uint8_t> out,
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

}  // namespace loadns::net
