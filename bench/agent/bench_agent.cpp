// What counting costs: opens N loopback connections (default 20,000), then prints the wall and
// CPU time (getrusage) and the memory growth of one count by netlink sock_diag and by
// /proc/net/tcp{,6}, and, when given the loadns-agent binary, that process's RSS and CPU per
// count while it counts every 100 ms (its database unreachable, which it waits out), and its
// CPU over --agent-seconds at the default 2 s interval with each health check at 250 ms
// against no check (the agent's cost before health checks existed).
//
//   bench_agent [--connections N] [--rounds R] [--family 4|6] [--agent PATH]
//               [--agent-seconds S]

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "agent/count/netlink_counter.hpp"
#include "agent/count/proc_counter.hpp"
#include "tests/integration/agent/loopback_load.hpp"

using namespace loadns::agent;
using clock_type = std::chrono::steady_clock;

namespace {

double cpu_seconds(const rusage& u) {
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// kB fields of /proc/PID/status ("VmRSS", "VmHWM").
long status_kb(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

// utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15).
double process_cpu(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  const auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

template <typename Counter>
void measure(const char* name, Counter& counter, int rounds, std::uint64_t expected) {
  counter.count();  // warm: socket opened, buffers touched
  const long hwm_before = status_kb(0, "VmHWM");
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  const auto t0 = clock_type::now();
  count_result r;
  for (int i = 0; i < rounds; ++i) r = counter.count();
  const auto t1 = clock_type::now();
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  const long hwm_after = status_kb(0, "VmHWM");
  const double wall_ms = std::chrono::duration<double, std::milli>(t1 - t0).count() / rounds;
  const double cpu_ms = (cpu_seconds(after) - cpu_seconds(before)) * 1000.0 / rounds;
  std::printf("%s: count=%llu%s examined=%llu  wall %.3f ms  cpu %.3f ms  peak-rss growth %ld kB\n",
              name, static_cast<unsigned long long>(r.established),
              r.established == expected ? "" : " (MISMATCH)",
              static_cast<unsigned long long>(r.examined), wall_ms, cpu_ms, hwm_after - hwm_before);
  if (!r) std::printf("%s: error: %s\n", name, r.error.message().c_str());
}

// Starts the agent on `port` with `extra` flags (its database unreachable), and returns its
// CPU in ms per second over `seconds`, after one second of warm-up.
double agent_cpu_per_second(const std::string& agent, std::uint16_t port,
                            const std::vector<std::string>& extra, int seconds) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<std::string> args{agent,
                                  "--db",
                                  "host=127.0.0.1 port=1 connect_timeout=1",
                                  "--service",
                                  "bench.example.com",
                                  "--address",
                                  "127.0.0.1",
                                  "--port",
                                  std::to_string(port),
                                  "--log-level",
                                  "error"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu0 = process_cpu(pid);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double cpu1 = process_cpu(pid);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return (cpu1 - cpu0) * 1000.0 / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 20'000;
  int rounds = 20;
  std::string agent;
  int agent_seconds = 10;
  bool ipv6 = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--connections") {
      n = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (flag == "--rounds") {
      rounds = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--family") {
      ipv6 = std::string_view(argv[i + 1]) == "6";
    } else if (flag == "--agent") {
      agent = argv[i + 1];
    } else if (flag == "--agent-seconds") {
      agent_seconds = std::max(1, std::atoi(argv[i + 1]));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--connections N] [--rounds R] [--family 4|6] [--agent PATH] "
                   "[--agent-seconds S]\n",
                   argv[0]);
      return 2;
    }
  }

  loadns::test::tcp_listener listener(ipv6 ? "::1" : "127.0.0.1");
  std::vector<std::string> sources;  // IPv6 loopback has one address: ::1
  for (int i = 10; i < 18 && !ipv6; ++i) sources.push_back("127.0.0." + std::to_string(i));
  loadns::test::connection_set conns(listener, {}, sources);
  const auto t0 = clock_type::now();
  conns.open(n);
  const auto t1 = clock_type::now();
  std::printf("opened %zu connections to %s port %u in %.2f s (%ld sockets on the port per ss)\n",
              n, listener.ip().c_str(), listener.port(),
              std::chrono::duration<double>(t1 - t0).count(),
              loadns::test::ss_established(listener.port()));

  const socket_filter filter{{listener.port()}, std::nullopt};
  netlink_counter nl(filter);
  proc_counter pc(filter);
  std::printf("per count, mean of %d:\n", rounds);
  measure("netlink (one dump, both families)", nl, rounds, n);
  netlink_counter per_family(filter);
  per_family.use_per_family_dumps();
  measure("netlink (one dump per family)", per_family, rounds, n);
  measure("proc", pc, rounds, n);
  // The walk alone: a port nobody uses, so the kernel visits every socket and sends none.
  netlink_counter idle({{1}, std::nullopt});
  idle.count();
  measure("netlink, no socket matching", idle, rounds, 0);

  if (!agent.empty()) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      // An unreachable database (a closed port): the agent counts and retries, never exits.
      const std::string port = std::to_string(listener.port());
      ::execl(agent.c_str(), agent.c_str(), "--db", "host=127.0.0.1 port=1 connect_timeout=1",
              "--service", "bench.example.com", "--address", "192.0.2.1", "--port", port.c_str(),
              "--interval", "100ms", "--check", "none", "--log-level", "warn", nullptr);
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const double cpu0 = process_cpu(pid);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    const double cpu1 = process_cpu(pid);
    std::printf(
        "loadns-agent: VmRSS %ld kB (RssAnon %ld kB private, RssFile %ld kB shared libraries), "
        "VmHWM %ld kB, cpu %.2f ms per 100 ms interval\n",
        status_kb(pid, "VmRSS"), status_kb(pid, "RssAnon"), status_kb(pid, "RssFile"),
        status_kb(pid, "VmHWM"), (cpu1 - cpu0) * 1000.0 / 30);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);

    // Health checks every 250 ms beside counts every 2 s, against counts alone.
    std::printf("loadns-agent CPU at --interval 2s over %d s, %zu connections on the port:\n",
                agent_seconds, n);
    const double none =
        agent_cpu_per_second(agent, listener.port(), {"--check", "none"}, agent_seconds);
    std::printf("  --check none (counting only)      %7.3f ms CPU per second\n", none);
    for (const char* check : {"listen", "tcp"}) {
      const double with =
          agent_cpu_per_second(agent, listener.port(), {"--check", check}, agent_seconds);
      std::printf("  --check %-6s every 250 ms       %7.3f ms CPU per second (%.2fx)\n", check,
                  with, none > 0 ? with / none : 0.0);
    }
  }
  return 0;
}
