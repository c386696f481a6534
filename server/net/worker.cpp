#include "server/net/worker.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "server/net/tcp_listener.hpp"
#include "server/net/udp_listener.hpp"

namespace loadns::net {

namespace asio = boost::asio;

worker::worker(unsigned index, const options& opts, const core::snapshot_holder& holder,
               std::atomic<unsigned>& tcp_open)
    : index_(index),
      opts_(opts),
      holder_(holder),
      tcp_responder_(opts, holder, std::random_device{}() ^ (std::uint64_t{index} << 32)),
      tcp_open_(tcp_open) {}

worker::~worker() {
  stop();
}

void worker::open(bool optional_v6) {
  for (const auto& at : opts_.listen) {
    try {
      // Every thread its own balancer random sequence: ties are broken at random, and two
      // threads with one sequence would break them alike.
      const std::uint64_t seed = std::random_device{}() ^ (std::uint64_t{index_} << 32) ^
                                 (std::uint64_t{udp_.size() + 1} << 48);
      auto udp = std::make_unique<udp_listener>(at, opts_, holder_, seed);
      auto tcp = std::make_unique<tcp_listener>(
          io_, asio::ip::tcp::endpoint(at.address(), at.port()),
          tcp_context{tcp_responder_, tcp_responder_.stats(), tcp_open_, opts_});
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

void worker::start() {
  for (auto& l : udp_) l->start();
  for (auto& l : tcp_) l->start();
  loop_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::critical("worker {} stopped: {}", index_, e.what());
    }
  });
}

void worker::stop() {
  for (auto& l : udp_) l->stop();
  if (!loop_.joinable()) return;
  asio::post(io_, [this] {
    for (auto& l : tcp_) l->close();
    io_.stop();
  });
  loop_.join();
}

std::vector<const responder*> worker::responders() const {
  std::vector<const responder*> all{&tcp_responder_};
  for (const auto& l : udp_) all.push_back(&l->responder());
  return all;
}

}  // namespace loadns::net
