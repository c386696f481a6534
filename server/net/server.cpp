#include "server/net/server.hpp"

#include <stdexcept>

namespace loadns::net {

server::server(options opts, const core::snapshot_holder& holder)
    : opts_(std::move(opts)), holder_(holder) {}

server::~server() {
  stop();
}

void server::start(bool optional_v6) {
  for (unsigned i = 0; i < opts_.threads; ++i) {
    workers_.push_back(std::make_unique<worker>(i, opts_, holder_, tcp_open_));
    workers_.back()->open(optional_v6);
  }
  if (workers_.front()->listener_count() == 0) {
    throw std::runtime_error("no listen address could be opened");
  }
  for (auto& w : workers_) w->start();
}

void server::stop() {
  for (auto& w : workers_) w->stop();
}

}  // namespace loadns::net
