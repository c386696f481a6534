#include "server/db/session.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <pqxx/pqxx>
#include <system_error>

namespace loadns::db {

namespace {

constexpr const char* notify_channel = "loadns_changed";

int poll_timeout_ms(session::steady::time_point deadline) {
  using std::chrono::milliseconds;
  const auto left =
      std::chrono::duration_cast<milliseconds>(deadline - session::steady::now()).count();
  if (left <= 0) return 0;
  return left > 60'000 ? 60'000 : static_cast<int>(left) + 1;  // +1: never wake just early
}

}  // namespace

// libpqxx calls this from get_notifs(), on the session's thread.
struct session::listener final : pqxx::notification_receiver {
  listener(pqxx::connection& c, session& s)
      : pqxx::notification_receiver(c, notify_channel), owner(s) {}
  void operator()(const std::string&, int) override {
    owner.notifications_.fetch_add(1, std::memory_order_relaxed);
    owner.notified_ = true;
  }
  session& owner;
};

session::session(std::string conninfo, std::chrono::milliseconds statement_timeout,
                 std::atomic<std::uint64_t>& notifications)
    : conninfo_(std::move(conninfo)),
      statement_timeout_(statement_timeout),
      notifications_(notifications) {}

session::~session() {
  close();
}

void session::open() {
  auto c = std::make_unique<pqxx::connection>(conninfo_);
  {
    pqxx::nontransaction tx(*c);
    tx.exec("SET statement_timeout = " + std::to_string(statement_timeout_.count()));
  }
  conn_ = std::move(c);
}

void session::listen() {
  listener_ = std::make_unique<listener>(*conn_, *this);
}

void session::close() noexcept {
  {
    std::lock_guard lock(load_mutex_);
    loading_socket_ = -1;
  }
  listener_.reset();  // before its connection; libpqxx swallows UNLISTEN errors on a dead link
  conn_.reset();
  notified_ = false;
}

std::string session::where() const {
  const char* host = conn_->hostname();
  const char* port = conn_->port();
  return std::string(host != nullptr ? host : "?") + ":" + (port != nullptr ? port : "?");
}

int session::server_version() const {
  return conn_->server_version();
}

bool session::take_notification() noexcept {
  const bool was = notified_;
  notified_ = false;
  return was;
}

void session::wait(steady::time_point deadline, int wake_fd, const std::atomic<bool>& stopping,
                   bool ignore_notifications) {
  // A notification that arrived during the last load was read off the socket by libpq with
  // the results and waits in its queue: the socket will not signal it again.
  if (conn_) conn_->get_notifs();
  while (!stopping.load(std::memory_order_acquire) && (ignore_notifications || !notified_)) {
    std::array<pollfd, 2> fds{};
    fds[0] = pollfd{wake_fd, POLLIN, 0};
    nfds_t n = 1;
    const int sock = conn_ ? conn_->sock() : -1;
    if (sock >= 0) fds[n++] = pollfd{sock, POLLIN, 0};
    const int timeout = poll_timeout_ms(deadline);
    if (timeout == 0) return;
    const int r = ::poll(fds.data(), n, timeout);
    if (r < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    if (r > 0 && n == 2 && fds[1].revents != 0) conn_->get_notifs();
    if (r > 0 && fds[0].revents != 0) {
      // A wake-up (stop, or a requested poll): consume it so the next wait blocks again.
      std::uint64_t count = 0;
      [[maybe_unused]] auto got = ::read(wake_fd, &count, sizeof count);
      return;
    }
    if (steady::now() >= deadline) return;
  }
}

loaded_source session::load() {
  {
    std::lock_guard lock(load_mutex_);
    loading_socket_ = conn_->sock();
    load_started_ = steady::now();
  }
  struct clear_loading {
    session& self;
    ~clear_loading() {
      std::lock_guard lock(self.load_mutex_);
      self.loading_socket_ = -1;
    }
  } guard{*this};
  return load_source_at(*conn_);
}

bool session::interrupt_load(steady::duration limit) noexcept {
  std::lock_guard lock(load_mutex_);
  if (loading_socket_ < 0) return false;
  if (limit > steady::duration::zero() && steady::now() - load_started_ <= limit) return false;
  ::shutdown(loading_socket_, SHUT_RDWR);
  load_started_ = steady::now();  // once per stuck load
  return true;
}

}  // namespace loadns::db
