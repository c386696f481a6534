#include "tests/integration/dashboard/prometheus.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/server_process.hpp"

namespace loadns::test {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// HTTP/1.0, so that the response is never chunked: read to the end of the connection.
std::optional<std::pair<int, std::string>> http10_get(std::uint16_t port, const std::string& target,
                                                      std::chrono::milliseconds timeout) {
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
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return std::nullopt;
  const std::string request = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return std::nullopt;
  std::string raw;
  const auto until = steady::now() + timeout;
  char buf[8192];
  while (steady::now() < until) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) return std::nullopt;  // timeout or reset: an incomplete answer is no answer
    raw.append(buf, static_cast<std::size_t>(n));
  }
  if (raw.rfind("HTTP/", 0) != 0) return std::nullopt;
  const auto sp = raw.find(' ');
  const auto body = raw.find("\r\n\r\n");
  if (sp == std::string::npos || body == std::string::npos) return std::nullopt;
  return std::make_pair(std::atoi(raw.c_str() + sp + 1), raw.substr(body + 4));
}

/// A string member of a JSON object, or "" when it is absent or not a string.
std::string text(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xF];
    }
  }
  return out;
}

std::optional<std::string> prometheus_process::find_binary() {
  if (const char* env = std::getenv("LOADNS_PROMETHEUS"); env != nullptr && *env != '\0')
    return ::access(env, X_OK) == 0 ? std::optional<std::string>(env) : std::nullopt;
  if (::access("/usr/bin/prometheus", X_OK) == 0) return "/usr/bin/prometheus";
  return std::nullopt;
}

prometheus_process::prometheus_process(std::string binary, const std::vector<std::string>& targets,
                                       std::chrono::milliseconds scrape_interval)
    : binary_(std::move(binary)) {
  char templ[] = "/tmp/loadns-prometheus-XXXXXX";
  if (::mkdtemp(templ) == nullptr)
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  dir_ = templ;
  {
    std::ofstream config(dir_ / "prometheus.yml");
    const auto ms = std::to_string(scrape_interval.count()) + "ms";
    config << "global:\n  scrape_interval: " << ms << "\n  scrape_timeout: " << ms
           << "\n  evaluation_interval: " << ms << "\nscrape_configs:\n  - job_name: loadns\n"
           << "    static_configs:\n      - targets: [";
    for (std::size_t i = 0; i < targets.size(); ++i)
      config << (i ? ", " : "") << '"' << targets[i] << '"';
    config << "]\n";
  }
  // The port may be taken between free_port() and Prometheus's bind: try a few times.
  for (int attempt = 0;; ++attempt) {
    launch();
    if (wait_ready(60s)) return;
    const bool exited = !running();
    const std::string tail = log_tail();
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
    if (exited && attempt < 3 && tail.find("address already in use") != std::string::npos) continue;
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("prometheus did not become ready" +
                             std::string(exited ? " (it exited)" : "") + "; its log:\n" + tail);
  }
}

void prometheus_process::launch() {
  port_ = free_port();
  const std::vector<std::string> argv = {
      binary_, "--config.file=" + (dir_ / "prometheus.yml").string(),
      "--storage.tsdb.path=" + (dir_ / "data").string(),
      "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=info"};
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string log = (dir_ / "prometheus.log").string();
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("open " + log + ": " + std::strerror(errno));
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // Never outlive the test, even when it crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(log_fd);
}

bool prometheus_process::running() {
  if (pid_ <= 0) return false;
  return ::waitpid(pid_, nullptr, WNOHANG) == 0;
}

bool prometheus_process::wait_ready(std::chrono::milliseconds deadline) {
  const auto until = steady::now() + deadline;
  while (steady::now() < until) {
    if (!running()) return false;
    const auto r = http10_get(port_, "/-/ready", 1s);
    if (r && r->first == 200) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

prometheus_process::~prometheus_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    const auto until = steady::now() + 10s;
    while (::waitpid(pid_, nullptr, WNOHANG) == 0) {
      if (steady::now() >= until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

prometheus_result prometheus_process::query(std::string_view promql) const {
  prometheus_result out;
  const auto r = http10_get(port_, "/api/v1/query?query=" + url_encode(promql), 10s);
  if (!r) {
    out.error = "no HTTP answer from prometheus";
    return out;
  }
  out.body = r->second;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(r->second);
  } catch (const nlohmann::json::exception& e) {
    out.error = std::string("HTTP ") + std::to_string(r->first) + ", not JSON: " + e.what();
    return out;
  }
  out.ok = text(j, "status") == "success";
  if (!out.ok) {
    out.error = text(j, "errorType") + ": " + text(j, "error");
    return out;
  }
  const auto& data = j.at("data");
  const auto type = text(data, "resultType");
  if (type == "vector" || type == "matrix") {
    out.series = data.at("result").size();
    for (const auto& entry : data.at("result")) {
      auto& labels = out.labels.emplace_back();
      const auto metric = entry.value("metric", nlohmann::json::object());
      for (const auto& [k, v] : metric.items())
        labels[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  } else {
    out.series = 1;  // scalar or string
  }
  return out;
}

std::string prometheus_process::log_tail(std::size_t max_bytes) const {
  std::string all = read_file(dir_ / "prometheus.log");
  if (all.size() <= max_bytes) return all;
  return "[...]\n" + all.substr(all.size() - max_bytes);
}

}  // namespace loadns::test
