#include "tests/support/server_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/dns_client.hpp"

namespace loadns::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

bool bind_to(int fd, std::uint16_t port) {
  const sockaddr_in sa = loopback(port);
  return ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
}

std::uint16_t bound_port(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

/// argv as the char* array execv wants; the strings must outlive it.
std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

std::uint16_t free_port() {
  // Ask the kernel for a TCP port, then make sure UDP can have the same number too.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    std::uint16_t port = 0;
    if (tcp >= 0 && udp >= 0 && bind_to(tcp, 0)) {
      port = bound_port(tcp);
      if (!bind_to(udp, port)) port = 0;
    }
    if (tcp >= 0) ::close(tcp);
    if (udp >= 0) ::close(udp);
    if (port != 0) return port;
  }
  throw std::runtime_error("free_port: no loopback port free for both UDP and TCP");
}

command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout) {
  command_result result;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  auto args = c_argv(argv);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(args[0], args.data());
    const char msg[] = "exec failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  const auto until = steady::now() + timeout;
  std::array<pollfd, 2> fds{{{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
    if (left <= 0ms) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& p : fds)
    if (p.fd >= 0) ::close(p.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = decode_status(status);
  return result;
}

std::string file_tail(const std::string& path, std::size_t max_bytes) {
  std::string all = read_file(path);
  if (all.size() <= max_bytes) return all;
  return "[...]\n" + all.substr(all.size() - max_bytes);
}

pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& log_path) {
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("open " + log_path + ": " + std::strerror(errno));
  auto args = c_argv(argv);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Never outlive the test, even when it crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(args[0], args.data());
    const char msg[] = "exec failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(log_fd);
  return pid;
}

std::optional<http_response> http_get(std::uint16_t port, std::string_view path,
                                      std::chrono::milliseconds timeout, http_version version) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_fd{fd};
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const sockaddr_in sa = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return std::nullopt;
  const std::string request =
      "GET " + std::string(path) +
      (version == http_version::v1_0 ? " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
                                     : " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return std::nullopt;
  std::string raw;
  const auto until = steady::now() + timeout;
  char buf[4096];
  while (steady::now() < until) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  if (raw.rfind("HTTP/", 0) != 0) return std::nullopt;
  const auto sp = raw.find(' ');
  if (sp == std::string::npos) return std::nullopt;
  http_response r;
  r.status = std::atoi(raw.c_str() + sp + 1);
  const auto body = raw.find("\r\n\r\n");
  if (body != std::string::npos) r.body = raw.substr(body + 4);
  return r;
}

std::string server_binary(std::string_view fallback) {
  if (const char* env = std::getenv("LOADNS_SERVER_BINARY"); env != nullptr && *env != '\0')
    return env;
  return std::string(fallback);
}

server_process::server_process(server_options options) : options_(std::move(options)) {
  if (options_.binary.empty()) options_.binary = server_binary();
  if (options_.binary.empty())
    throw std::runtime_error("server_process: no binary (set LOADNS_SERVER_BINARY)");
  char path[] = "/tmp/loadns-server-XXXXXX.log";
  const int fd = ::mkstemps(path, 4);
  if (fd < 0) throw std::runtime_error(std::string("mkstemps: ") + std::strerror(errno));
  ::close(fd);
  log_path_ = path;

  // The port may be taken between free_port() and the server's bind: try a few times.
  for (int attempt = 0;; ++attempt) {
    launch();
    if (options_.wait == server_options::wait_for::none) return;
    const bool any = options_.wait == server_options::wait_for::listening;
    if (wait_answering(options_.start_timeout, any)) return;
    const bool exited = !running();
    const std::string tail = log_tail();
    if (exited && attempt < 3 && tail.find("in use") != std::string::npos) continue;
    if (!exited) {
      ::kill(pid_, SIGKILL);
      wait_exit(5s);
    }
    const std::string message =
        "loadns-server did not come up within " + std::to_string(options_.start_timeout.count()) +
        " ms" + (exited ? " (exited with " + std::to_string(*exit_code_) + ")" : "") +
        "\ncommand: " + command_line() + "\nlog " + log_path_ + ":\n" + tail;
    throw std::runtime_error(message);
  }
}

void server_process::launch() {
  port_ = free_port();
  metrics_port_ = options_.metrics ? free_port() : 0;
  exit_code_.reset();
  stop_requested_ = false;
  argv_ = {options_.binary,
           "--db",
           options_.conninfo,
           "--listen",
           "127.0.0.1:" + std::to_string(port_),
           "--threads",
           std::to_string(options_.threads),
           "--poll-interval",
           options_.poll_interval};
  if (options_.metrics) {
    argv_.push_back("--metrics-listen");
    argv_.push_back("127.0.0.1:" + std::to_string(metrics_port_));
  }
  if (options_.query_log) argv_.push_back("--query-log");
  argv_.insert(argv_.end(), options_.extra_args.begin(), options_.extra_args.end());

  {
    std::ofstream header(log_path_, std::ios::app);
    header << "=== " << command_line() << "\n";
  }
  pid_ = spawn_logged(argv_, log_path_);
}

server_process::~server_process() {
  if (pid_ <= 0) return;
  const bool was_running = running();
  const bool expected_exit = stop_requested_;
  const auto code = was_running ? stop(5s) : exit_code_;
  if ((!was_running && !expected_exit) || code != 0) {
    std::cerr << "loadns-server (pid " << pid_ << ") "
              << (was_running ? "did not stop cleanly on SIGTERM" : "exited before the test ended")
              << ", exit code " << (code ? std::to_string(*code) : std::string("none (killed)"))
              << "\n--- log " << log_path_ << " ---\n"
              << log_tail() << "\n--- end of log ---\n";
    return;  // keep the log file for diagnosis
  }
  ::unlink(log_path_.c_str());
}

std::string server_process::log() const {
  return read_file(log_path_);
}

std::string server_process::log_tail(std::size_t max_bytes) const {
  return file_tail(log_path_, max_bytes);
}

bool server_process::running() {
  if (exit_code_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = decode_status(status);
    return false;
  }
  return r == 0;
}

void server_process::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> server_process::wait_exit(std::chrono::milliseconds deadline) {
  const auto until = steady::now() + deadline;
  while (running()) {
    if (steady::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
  return exit_code_;
}

std::optional<int> server_process::stop(std::chrono::milliseconds deadline) {
  stop_requested_ = true;
  if (!running()) return exit_code_;
  signal(SIGTERM);
  if (auto code = wait_exit(deadline)) return code;
  signal(SIGKILL);
  wait_exit(10s);
  return std::nullopt;
}

bool server_process::wait_answering(std::chrono::milliseconds deadline, bool any_rcode) {
  const auto until = steady::now() + deadline;
  query_spec probe;
  probe.name = "loadns-readiness-probe.invalid";
  probe.type = rr_type::soa;
  std::uint16_t id = 1;
  while (steady::now() < until) {
    if (!running()) return false;
    probe.id = id++;
    const auto reply = udp_exchange(port_, make_query(probe), 200ms);
    if (reply) {
      const auto h = parse_header(*reply);
      if (h && h->id == probe.id && (any_rcode || h->rcode != rcode::servfail)) {
        try {
          tcp_client tcp(port_, 1s);
          return true;
        } catch (const std::exception&) {
          // TCP not accepting yet.
        }
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::string server_process::command_line() const {
  std::string s;
  for (const auto& a : argv_) {
    if (!s.empty()) s += ' ';
    s += a.find(' ') == std::string::npos ? a : "'" + a + "'";
  }
  return s;
}

}  // namespace loadns::test
