#include "server/net/tcp_listener.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "server/net/socket_options.hpp"
#include "server/net/worker.hpp"

namespace loadns::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

/// Releases a slot of the server-wide TCP connection cap when the session ends.
class connection_slot {
 public:
  explicit connection_slot(std::atomic<unsigned>& open) : open_(open) {}
  ~connection_slot() { open_.fetch_sub(1, std::memory_order_relaxed); }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;

 private:
  std::atomic<unsigned>& open_;
};

/// The completion handler of every co_spawn here: never a bare `detached`, what a coroutine
/// threw is logged.
auto log_failure(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("{}: {}", what, ex.what());
    }
  };
}

// Largest DNS message plus its length prefix.
constexpr std::size_t max_frame = 2 + 65535;
// Responses are gathered up to this size before one write; more waits for the next write.
constexpr std::size_t write_batch = 64 * 1024;

}  // namespace

tcp_listener::tcp_listener(asio::io_context& io, const tcp::endpoint& at, worker& w)
    : acceptor_(io), worker_(w), scratch_(65535) {
  acceptor_.open(at.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  set_reuse_port(acceptor_.native_handle());
  if (at.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(true));
  acceptor_.bind(at);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void tcp_listener::start() {
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), log_failure("tcp accept loop ended"));
}

void tcp_listener::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> tcp_listener::accept_loop() {
  auto& stats = worker_.stats();
  bool starved = false;  // out of descriptors or memory; logged once per episode
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      const int e = ec.value();
      if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        // The connection stays queued and accept would fail again at once: retrying now
        // spins this worker at 100% CPU. Pause accepting; sessions ending meanwhile free
        // descriptors, and the listen backlog holds the queue.
        if (!starved) {
          spdlog::warn("tcp accept failed: {}; pausing accepts for 100 ms at a time", ec.message());
          starved = true;
        }
        asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!acceptor_.is_open()) co_return;
      }
      continue;  // ECONNABORTED and the like: keep accepting the next ones
    }
    if (starved) {
      spdlog::info("tcp accepts resumed");
      starved = false;
    }
    auto& open = worker_.tcp_open();
    if (open.fetch_add(1, std::memory_order_relaxed) >= worker_.opts().tcp_max_connections) {
      // Over the cap: closing at once is kinder than a queue nobody drains (RFC 7766 6.2.2).
      open.fetch_sub(1, std::memory_order_relaxed);
      stats.tcp_rejected.add();
      socket.close(ec);
      continue;
    }
    stats.tcp_accepted.add();
    asio::co_spawn(acceptor_.get_executor(), session(std::move(socket)),
                   log_failure("tcp session ended by an error"));
  }
}

asio::awaitable<void> tcp_listener::session(tcp::socket accepted) {
  connection_slot slot(worker_.tcp_open());
  // Shared with the deadline's handler, which may run after this frame is gone.
  struct shared_state {
    tcp::socket socket;
    bool timed_out = false;
  };
  auto state = std::make_shared<shared_state>(shared_state{std::move(accepted)});
  auto& socket = state->socket;
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  sockaddr_storage client{};  // for the query log
  socklen_t client_length = sizeof client;
  ::getpeername(socket.native_handle(), reinterpret_cast<sockaddr*>(&client),
                &client_length);  // NOLINT: the sockets API

  // Every wait for a complete query has a deadline that only a complete query resets: a
  // client that trickles one byte a second or stops after a length prefix is closed.
  asio::steady_timer deadline(socket.get_executor());
  auto arm_deadline = [&] {
    deadline.expires_after(worker_.opts().tcp_idle_timeout);
    deadline.async_wait([state](boost::system::error_code wait_ec) {
      if (wait_ec) return;  // re-armed or session over
      state->timed_out = true;
      boost::system::error_code ignored;
      state->socket.close(ignored);
    });
  };
  arm_deadline();

  std::vector<std::uint8_t> in(4096);
  std::size_t filled = 0;
  std::vector<std::uint8_t> out;
  out.reserve(4096);

  for (;;) {
    if (filled == in.size()) in.resize(std::min(in.size() * 2, max_frame));
    std::size_t n =
        co_await socket.async_read_some(asio::buffer(in.data() + filled, in.size() - filled),
                                        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    filled += n;

    // Answer every complete query in the buffer, then send all responses with one write.
    std::size_t pos = 0;
    bool answered = false;
    while (filled - pos >= 2) {
      std::size_t len = (std::size_t{in[pos]} << 8) | in[pos + 1];
      if (filled - pos - 2 < len) {
        if (in.size() < 2 + len) in.resize(std::max(in.size(), max_frame));
        break;
      }
      std::span<const std::uint8_t> query(in.data() + pos + 2, len);
      pos += 2 + len;
      answered = true;
      std::size_t rlen = worker_.handle(query, scratch_, core::transport::tcp, client);
      if (rlen == 0) continue;  // RFC 7766 allows silence; the client times out that one
      out.push_back(static_cast<std::uint8_t>(rlen >> 8));
      out.push_back(static_cast<std::uint8_t>(rlen & 0xff));
      out.insert(out.end(), scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(rlen));
      if (out.size() >= write_batch) {
        co_await asio::async_write(socket, asio::buffer(out),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        out.clear();
      }
    }
    if (ec) break;
    if (pos > 0) {
      std::memmove(in.data(), in.data() + pos, filled - pos);
      filled -= pos;
    }
    if (!out.empty()) {
      co_await asio::async_write(socket, asio::buffer(out),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      out.clear();
    }
    if (answered) arm_deadline();
  }
  if (state->timed_out) worker_.stats().tcp_timeouts.add();
  deadline.cancel();
  socket.close(ec);
}

}  // namespace loadns::net
