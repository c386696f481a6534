#include "server/net/tcp_listener.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>

#include "server/dns/tcp_framer.hpp"
#include "server/guard/source_counter.hpp"
#include "server/net/socket_options.hpp"

namespace loadns::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

/// A slot of the server-wide TCP connection cap, released when the session ends or when it
/// is evicted (its descriptor is closed at that moment, so the slot passes to the newcomer).
class connection_slot {
 public:
  explicit connection_slot(std::atomic<unsigned>& open) : open_(&open) {}
  ~connection_slot() { release(); }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;

  void release() noexcept {
    if (open_ == nullptr) return;
    open_->fetch_sub(1, std::memory_order_relaxed);
    open_ = nullptr;
  }

 private:
  std::atomic<unsigned>* open_;
};

/// A link in a circular intrusive list. The links live in the session, so listing and
/// unlisting a session allocates nothing.
struct idle_hook {
  idle_hook* prev = this;
  idle_hook* next = this;

  idle_hook() = default;
  idle_hook(const idle_hook&) = delete;
  idle_hook& operator=(const idle_hook&) = delete;
  ~idle_hook() { unlink(); }

  bool linked() const noexcept { return next != this; }
  /// Leaves whatever list this is in; harmless when in none.
  void unlink() noexcept {
    prev->next = next;
    next->prev = prev;
    prev = next = this;
  }
  /// Joins the list whose sentinel is `head`, at its back.
  void link_back(idle_hook& head) noexcept {
    unlink();
    prev = head.prev;
    next = &head;
    head.prev->next = this;
    head.prev = this;
  }
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

// Responses are gathered up to this size before one write; more waits for the next write.
constexpr std::size_t write_batch = 64 * 1024;
// What a session's buffers hold between queries; after a larger query or batch of responses
// they go back to this, so that memory held at the connection cap is that of idle sessions.
constexpr std::size_t resting_buffer = 4096;

/// A connection counted against its client network's --tcp-max-per-source.
class source_slot {
 public:
  source_slot(guard::source_counter* counter, std::ptrdiff_t slot)
      : counter_(counter), slot_(slot) {}
  ~source_slot() {
    if (counter_ != nullptr) counter_->release(slot_);
  }
  source_slot(const source_slot&) = delete;
  source_slot& operator=(const source_slot&) = delete;

 private:
  guard::source_counter* counter_;
  std::ptrdiff_t slot_;
};

}  // namespace

// RFC 7766 6.2.3: at its connection limit a server should close idle connections rather than
// refuse new ones, least recently used first. A session is idle while it waits for a query
// with nothing half-read and nothing to send: closing it loses no query and no answer, and the
// client reconnects when it next has a query (6.2.1, 6.2.2: clients must expect the close).
//
// The cap counts connections over all workers, but each worker evicts only its own idle
// sessions. Workers share nothing but that counter: reaching into another worker's sessions
// would need a lock on every idle transition of every session, or a message to the other
// thread with the newcomer waiting for its reply. SO_REUSEPORT spreads connections across
// workers by hash, so a worker at the cap holds about its share of the sessions; when it has
// no idle one it refuses the newcomer as before, and the other workers' idle sessions still
// end by --tcp-idle-timeout.
//
// The list is an Asio service of the worker's io_context, so every listener of the worker
// (one per listen address) shares it and it outlives every session coroutine: they are
// destroyed while the io_context shuts down, before its services are.
class tcp_listener::idle_sessions : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;

  explicit idle_sessions(asio::execution_context& owner) : service(owner) {}
  ~idle_sessions() override { clear(); }
  idle_sessions(const idle_sessions&) = delete;
  idle_sessions& operator=(const idle_sessions&) = delete;

  /// `h` is now the most recently active idle session.
  void push_back(idle_hook& h) noexcept { h.link_back(head_); }
  /// The least recently active idle session, or nullptr.
  idle_hook* oldest() noexcept { return head_.linked() ? head_.next : nullptr; }
  /// `h` waits for the rest of a query frame it began: the other list eviction reads.
  void push_partial(idle_hook& h) noexcept { h.link_back(partial_); }
  /// The least recently active session holding a partial frame, or nullptr.
  idle_hook* oldest_partial() noexcept { return partial_.linked() ? partial_.next : nullptr; }

 private:
  void shutdown() override { clear(); }
  void clear() noexcept {
    while (head_.linked()) head_.next->unlink();
    while (partial_.linked()) partial_.next->unlink();
  }

  idle_hook head_;     // sentinel: idle sessions
  idle_hook partial_;  // sentinel: sessions holding part of a frame
};

// Shared with the deadline's handler, which may run after the session's frame is gone.
struct tcp_listener::session_state : idle_hook {
  session_state(tcp::socket s, std::atomic<unsigned>& open, guard::source_counter* counter,
                std::ptrdiff_t source)
      : socket(std::move(s)), slot(open), per_source(counter, source) {}

  tcp::socket socket;
  connection_slot slot;
  source_slot per_source;
  bool timed_out = false;
  bool in_frame = false;  ///< the deadline running is --tcp-frame-timeout's
  std::chrono::steady_clock::time_point frame_started{};
};

tcp_listener::tcp_listener(asio::io_context& io, const tcp::endpoint& at, tcp_context context)
    : acceptor_(io),
      context_(context),
      scratch_(65535),
      idle_(asio::use_service<idle_sessions>(io)) {
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
  auto& stats = context_.stats;
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
    auto& open = context_.open_connections;
    if (open.fetch_add(1, std::memory_order_relaxed) >= context_.opts.tcp_max_connections) {
      if (evict_idle()) {
        stats.tcp_evicted.add();
      } else {
        // Every session of this worker is busy: closing at once is kinder than a queue
        // nobody drains (RFC 7766 6.2.2).
        open.fetch_sub(1, std::memory_order_relaxed);
        stats.tcp_rejected.add();
        socket.close(ec);
        continue;
      }
    }
    // --tcp-max-per-source: one network cannot hold every slot (RFC 7766 6.2.3 asks servers
    // to protect themselves from clients that hold connections).
    std::ptrdiff_t source = -1;
    if (context_.opts.per_source != nullptr) {
      const auto peer = socket.remote_endpoint(ec);
      if (!ec) {
        const auto address = peer.address();
        if (address.is_v4()) {
          const auto b = address.to_v4().to_bytes();
          source = context_.opts.per_source->acquire(b);
        } else {
          const auto b = address.to_v6().to_bytes();
          source = context_.opts.per_source->acquire(b);
        }
      }
      if (source < 0) {
        open.fetch_sub(1, std::memory_order_relaxed);
        stats.tcp_source_rejected.add();
        socket.close(ec);
        continue;
      }
    }
    stats.tcp_accepted.add();
    asio::co_spawn(acceptor_.get_executor(), session(std::move(socket), source),
                   log_failure("tcp session ended by an error"));
  }
}

bool tcp_listener::evict_idle() {
  // First a session that has held part of a query for a quarter of --tcp-frame-timeout: no
  // real client stalls inside a frame that long, a slot holder does. Then the idle ones.
  idle_hook* oldest = nullptr;
  if (idle_hook* partial = idle_.oldest_partial(); partial != nullptr) {
    const auto& s = static_cast<session_state&>(*partial);
    if (std::chrono::steady_clock::now() - s.frame_started >= context_.opts.tcp_frame_timeout / 4) {
      oldest = partial;
    }
  }
  if (oldest == nullptr) oldest = idle_.oldest();
  if (oldest == nullptr) return false;
  auto& victim = static_cast<session_state&>(*oldest);
  victim.unlink();
  // Same thread as the victim's coroutine: its pending read completes with
  // operation_aborted, and the coroutine then ends.
  boost::system::error_code ignored;
  victim.socket.close(ignored);
  victim.slot.release();
  return true;
}

asio::awaitable<void> tcp_listener::session(tcp::socket accepted, std::ptrdiff_t source) {
  auto state = std::make_shared<session_state>(std::move(accepted), context_.open_connections,
                                               context_.opts.per_source, source);
  auto& socket = state->socket;
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  sockaddr_storage client{};  // for the query log
  socklen_t client_length = sizeof client;
  ::getpeername(socket.native_handle(), reinterpret_cast<sockaddr*>(&client),
                &client_length);  // NOLINT: the sockets API

  // Every wait for a complete query has a deadline that only a complete query resets: a
  // client that trickles one byte a second or stops after a length prefix is closed.
  // A frame begun has --tcp-frame-timeout to complete, however long the idle timeout.
  asio::steady_timer deadline(socket.get_executor());
  auto arm_deadline = [&](std::chrono::milliseconds after) {
    deadline.expires_after(after);
    deadline.async_wait([state](boost::system::error_code wait_ec) {
      if (wait_ec || !state->socket.is_open()) return;  // re-armed, session over or evicted
      state->timed_out = true;
      state->unlink();  // closed next: no longer a candidate for eviction
      boost::system::error_code ignored;
      state->socket.close(ignored);
    });
  };
  arm_deadline(context_.opts.tcp_idle_timeout);
  const auto frame_deadline =
      std::min(context_.opts.tcp_frame_timeout, context_.opts.tcp_idle_timeout);

  dns::tcp_framer framer(dns::tcp_framer::max_message_limit, resting_buffer);
  std::vector<std::uint8_t> out;
  out.reserve(resting_buffer);

  for (;;) {
    // Nothing half-read and nothing to send (responses are written before we get here):
    // idle, so the first to close when the cap is reached; holding part of a frame, listed
    // apart for eviction. A socket closed under us (evicted or timed out while its last read
    // was already complete) is not listed again.
    if (socket.is_open()) {
      if (framer.idle()) {
        idle_.push_back(*state);
      } else {
        idle_.push_partial(*state);
      }
    }
    const auto room = framer.prepare();
    std::size_t n = co_await socket.async_read_some(asio::buffer(room.data(), room.size()),
                                                    asio::redirect_error(asio::use_awaitable, ec));
    state->unlink();
    if (ec) break;
    const bool was_between_frames = framer.idle();
    framer.commit(n);
    bool large = false;

    // Answer every complete query read, then send all responses with one write. The framer
    // keeps each query in place until the next prepare(), across the writes below.
    bool answered = false;
    dns::tcp_framer::status next;
    while ((next = framer.next()) == dns::tcp_framer::status::frame) {
      answered = true;
      large = large || framer.message().size() + 2 > resting_buffer;
      std::size_t rlen =
          context_.responder.handle(framer.message(), scratch_, core::transport::tcp, client);
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
    if (!out.empty()) {
      co_await asio::async_write(socket, asio::buffer(out),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      out.clear();
    }
    // Buffers grown for a large query or a large batch of responses shrink back, so that a
    // connection at rest holds resting_buffer octets in each, not 64 KiB.
    if (out.capacity() > 4 * resting_buffer) {
      std::vector<std::uint8_t>().swap(out);
      out.reserve(resting_buffer);
    }
    if (large && framer.idle())
      framer = dns::tcp_framer(dns::tcp_framer::max_message_limit, resting_buffer);
    // A two-byte length cannot announce more than the framer's limit (65535), so this ends
    // only a framer given a smaller one.
    if (next == dns::tcp_framer::status::too_large) break;
    if (answered) {
      arm_deadline(context_.opts.tcp_idle_timeout);
      state->in_frame = false;
    }
    // A new frame begun and not finished: the frame deadline runs from its first byte.
    if (!framer.idle() && (was_between_frames || answered)) {
      state->frame_started = std::chrono::steady_clock::now();
      state->in_frame = true;
      arm_deadline(frame_deadline);
    }
  }
  if (state->timed_out) {
    context_.stats.tcp_timeouts.add();
    if (state->in_frame) context_.stats.tcp_frame_timeouts.add();
  }
  deadline.cancel();
  socket.close(ec);
  state->slot.release();
}

}  // namespace loadns::net
