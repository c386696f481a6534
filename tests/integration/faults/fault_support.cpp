#include "tests/integration/faults/fault_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace loadns::test::faults {

const char* const seed_sql = R"sql(
INSERT INTO loadns.zones (name, mname, rname, minimum, ttl, nameservers)
VALUES ('example.com', 'ns1.example.com', 'hostmaster.example.com', 300, 3600,
        ARRAY['ns1.example.com', 'ns2.example.com']);
INSERT INTO loadns.services (name) VALUES ('api.example.com');
-- b1 is handed to the test login `agent`, which may report for the service.
INSERT INTO loadns.backends (service, name, address, registered_by)
VALUES ('api.example.com', 'b1', '192.0.2.10', 'agent');
INSERT INTO loadns.agent_grants (login, service) VALUES ('agent', 'api.example.com');
INSERT INTO loadns.records (name, type, ttl, data)
VALUES ('ns1.example.com', 'A', 3600, '192.0.2.53'),
       ('ns2.example.com', 'A', 3600, '192.0.2.54'),
       ('www.example.com', 'A', 120, '192.0.2.80');
)sql";

server_options server_options_for(std::string conninfo) {
  server_options o;
  o.binary = server_binary(LOADNS_SERVER_BINARY);
  o.conninfo = std::move(conninfo);
  return o;
}

namespace {

// Skips a (possibly compressed) name at `at`; false when it runs off the message.
bool skip_name(std::span<const std::uint8_t> m, std::size_t& at) {
  while (at < m.size()) {
    const std::uint8_t len = m[at];
    if ((len & 0xc0) == 0xc0) {
      at += 2;
      return at <= m.size();
    }
    at += 1 + std::size_t{len};
    if (len == 0) return at <= m.size();
  }
  return false;
}

std::uint16_t get16(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

// Addresses of type `type` in the answer section.
std::vector<std::string> answer_addresses(std::span<const std::uint8_t> m, std::uint16_t type) {
  std::vector<std::string> out;
  const auto h = parse_header(m);
  if (!h) return out;
  std::size_t at = 12;
  for (unsigned i = 0; i < h->qdcount; ++i) {
    if (!skip_name(m, at)) return out;
    at += 4;
  }
  for (unsigned i = 0; i < h->ancount; ++i) {
    if (!skip_name(m, at) || at + 10 > m.size()) return out;
    const std::uint16_t t = get16(m, at);
    const std::uint16_t rdlen = get16(m, at + 8);
    at += 10;
    if (at + rdlen > m.size()) return out;
    char text[INET6_ADDRSTRLEN] = {};
    if (t == type && t == rr_type::a && rdlen == 4) {
      ::inet_ntop(AF_INET, m.data() + at, text, sizeof text);
      out.emplace_back(text);
    } else if (t == type && t == rr_type::aaaa && rdlen == 16) {
      ::inet_ntop(AF_INET6, m.data() + at, text, sizeof text);
      out.emplace_back(text);
    }
    at += rdlen;
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::uint64_t status_field_kb(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::strtoull(line.c_str() + field.size(), nullptr, 10);
  }
  return 0;
}

}  // namespace

query_load::query_load(std::uint16_t port, std::string name, transport t,
                       std::chrono::milliseconds pace, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds max_duration)
    : name_(std::move(name)), last_answer_(steady::now()) {
  thread_ = std::thread([=, this] { run(port, t, pace, timeout, max_duration); });
}

query_load::~query_load() {
  stop();
}

void query_load::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void query_load::run(std::uint16_t port, transport t, std::chrono::milliseconds pace,
                     std::chrono::milliseconds timeout, std::chrono::milliseconds max_duration) {
  const auto until = steady::now() + max_duration;
  query_spec q;
  q.name = name_;
  std::uint16_t id = 1;
  auto next = steady::now();
  while (!stop_ && steady::now() < until) {
    q.id = id++;
    const auto packet = make_query(q);
    std::optional<std::vector<std::uint8_t>> reply;
    try {
      reply = exchange(port, t, packet, timeout);
    } catch (const std::exception&) {
      reply.reset();  // TCP connect refused or reset: a failed query
    }
    bool ok = false;
    std::vector<std::string> addrs;
    if (reply) {
      const auto h = parse_header(*reply);
      ok = h && h->id == q.id && h->rcode == rcode::noerror && h->ancount >= 1;
      if (ok) addrs = answer_addresses(*reply, rr_type::a);
    }
    {
      std::lock_guard lock(mutex_);
      ++counts_.sent;
      const auto now = steady::now();
      counts_.longest_gap =
          std::max(counts_.longest_gap,
                   std::chrono::duration_cast<std::chrono::milliseconds>(now - last_answer_));
      if (ok) {
        ++counts_.answered;
        last_addresses_ = std::move(addrs);
        last_answer_ = now;
      } else {
        ++counts_.failed;
      }
    }
    next += pace;
    const auto now = steady::now();
    if (next > now) {
      std::this_thread::sleep_for(next - now);  // pacing of the load, not synchronisation
    } else {
      next = now;
    }
  }
}

load_counts query_load::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

void query_load::reset_gap() {
  std::lock_guard lock(mutex_);
  counts_.longest_gap = 0ms;
  last_answer_ = steady::now();
}

std::vector<std::string> query_load::last_addresses() const {
  std::lock_guard lock(mutex_);
  return last_addresses_;
}

std::optional<double> metric(std::uint16_t metrics_port, std::string_view series) {
  const auto r = http_get(metrics_port, "/metrics");
  if (!r || r->status != 200) return std::nullopt;
  double sum = 0;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind(series, 0) != 0) continue;
    // The name must end where `series` ends, unless `series` already opened the labels.
    const char after = line.size() > series.size() ? line[series.size()] : ' ';
    if (series.find('{') == std::string_view::npos && after != ' ' && after != '{') continue;
    const auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    sum += std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return sum;
}

std::uint64_t peak_rss_kb(pid_t pid) {
  return status_field_kb(pid, "VmHWM:");
}

std::uint64_t rss_kb(pid_t pid) {
  return status_field_kb(pid, "VmRSS:");
}

std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string_view::npos; pos = text.find(what, pos + 1))
    ++n;
  return n;
}

std::optional<std::vector<std::string>> addresses(std::uint16_t port, std::string_view name,
                                                  std::uint16_t type) {
  query_spec q;
  q.name = std::string(name);
  q.type = type;
  q.id = 0x4242;
  const auto reply = udp_exchange(port, make_query(q), 1s);
  if (!reply) return std::nullopt;
  const auto h = parse_header(*reply);
  if (!h || h->id != q.id || h->rcode != rcode::noerror) return std::nullopt;
  return answer_addresses(*reply, type);
}

agent_process::agent_process(const std::vector<std::string>& args) {
  char path[] = "/tmp/loadns-agent-XXXXXX.log";
  const int fd = ::mkstemps(path, 4);
  if (fd < 0) throw std::runtime_error("mkstemps failed");
  log_path_ = path;
  std::vector<std::string> argv{LOADNS_AGENT_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(cargs[0], cargs.data());
    ::_exit(127);
  }
  ::close(fd);
}

agent_process::~agent_process() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  ::unlink(log_path_.c_str());
}

bool agent_process::running() {
  if (exited_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
  return !exited_;
}

std::string agent_process::log() const {
  return read_text(log_path_);
}

standby_cluster::standby_cluster(const pg_cluster& primary) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "loadns-standby-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl);
  base_dir_ = tmpl;
  std::filesystem::permissions(base_dir_, std::filesystem::perms::owner_all |
                                              std::filesystem::perms::group_exec |
                                              std::filesystem::perms::others_exec);
  dir_ = base_dir_ / "pg";
  try {
    port_ = static_cast<std::uint16_t>(
        std::stoul(script({"standby", primary.dir().string(), dir_.string()})));
  } catch (...) {
    script({"destroy", dir_.string()});
    std::error_code ec;
    std::filesystem::remove_all(base_dir_, ec);
    throw;
  }
}

standby_cluster::~standby_cluster() {
  try {
    script({"destroy", dir_.string()});
  } catch (...) {  // NOLINT(bugprone-empty-catch): the folder goes below anyway
  }
  std::error_code ec;
  std::filesystem::remove_all(base_dir_, ec);
}

void standby_cluster::stop() {
  script({"stop", dir_.string()});
}

void standby_cluster::start() {
  script({"start", dir_.string()});
}

std::string standby_cluster::script(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{LOADNS_PG_CLUSTER_SCRIPT};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_process(argv);
  if (r.status != 0) throw std::runtime_error("pg-cluster " + args.front() + " failed: " + r.err);
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

std::string standby_cluster::psql(std::string_view sql) const {
  auto r = run_process({"/usr/lib/postgresql/15/bin/psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h",
                        "127.0.0.1", "-p", std::to_string(port_), "-U", "postgres", "-d", "loadns"},
                       sql);
  if (r.status != 0) throw std::runtime_error("psql on the standby failed: " + r.err);
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

}  // namespace loadns::test::faults
