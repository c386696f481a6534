#pragma once
// A tiny HTTP/1.1 server for health check tests: answers every GET with the status the test
// sets (200, then 503, then 200 again), on 127.0.0.1 and a kernel-chosen port, from a thread
// of its own.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

namespace loadns::test::agent {

class http_toggle {
 public:
  http_toggle() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 64) != 0) {
      throw std::runtime_error("http_toggle: cannot listen");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~http_toggle() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  http_toggle(const http_toggle&) = delete;
  http_toggle& operator=(const http_toggle&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  void set_status(int status) noexcept { status_ = status; }
  [[nodiscard]] std::uint64_t requests() const noexcept { return requests_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string request;
      char buf[2048];
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (request.find("\r\n\r\n") == std::string::npos &&
             std::chrono::steady_clock::now() < deadline) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 50) <= 0) continue;
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      ++requests_;
      const std::string answer = "HTTP/1.1 " + std::to_string(status_.load()) +
                                 " Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      [[maybe_unused]] const auto w = ::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> status_{200};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace loadns::test::agent
