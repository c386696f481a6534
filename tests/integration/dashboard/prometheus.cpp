#include "tests/integration/dashboard/prometheus.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "tests/support/server_process.hpp"

namespace loadns::test {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// A string member of a JSON object, or "" when it is absent or not a string.
std::string text(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
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
  pid_ = spawn_logged(argv, (dir_ / "prometheus.log").string());
}

bool prometheus_process::running() {
  if (pid_ <= 0) return false;
  return ::waitpid(pid_, nullptr, WNOHANG) == 0;
}

bool prometheus_process::wait_ready(std::chrono::milliseconds deadline) {
  const auto until = steady::now() + deadline;
  while (steady::now() < until) {
    if (!running()) return false;
    const auto r = http_get(port_, "/-/ready", 1s, http_version::v1_0);
    if (r && r->status == 200) return true;
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
  const auto r =
      http_get(port_, "/api/v1/query?query=" + url_encode(promql), 10s, http_version::v1_0);
  if (!r) {
    out.error = "no HTTP answer from prometheus";
    return out;
  }
  out.body = r->body;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(r->body);
  } catch (const nlohmann::json::exception& e) {
    out.error = std::string("HTTP ") + std::to_string(r->status) + ", not JSON: " + e.what();
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
  return file_tail((dir_ / "prometheus.log").string(), max_bytes);
}

}  // namespace loadns::test
