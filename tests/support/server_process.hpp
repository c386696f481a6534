#pragma once
// Runs the real `loadns-server` binary for end-to-end tests: on a free loopback port (UDP and
// TCP on the same number), with its output captured to a file that is printed when something
// goes wrong, stopped with SIGTERM (then SIGKILL) when the object goes away.

#include <netinet/in.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loadns::test {

/// 127.0.0.1:port as a socket address.
sockaddr_in loopback(std::uint16_t port);

/// A loopback port free for both UDP and TCP at the moment of the call.
std::uint16_t free_port();

/// What a finished child process left behind.
struct command_result {
  int exit_code = -1;  ///< exit status, or 128 + signal number when killed by a signal
  bool timed_out = false;
  std::string out;
  std::string err;
};

/// Runs argv[0] (a path) with arguments, stdin from /dev/null, capturing stdout and stderr;
/// SIGKILLs it after `timeout` (then `timed_out` is set).
command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Starts argv[0] (a path) with arguments, stdin from /dev/null, stdout and stderr appended to
/// `log_path` (created if need be); the child is SIGKILLed when the test process dies, even in a
/// crash. Returns its pid; throws std::runtime_error when it cannot be started.
pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& log_path);

/// The last `max_bytes` of the file at `path` ("" when it cannot be read), after "[...]\n" when
/// cut: the end of a child's log, for failure messages.
std::string file_tail(const std::string& path, std::size_t max_bytes);

/// An HTTP GET against 127.0.0.1:port, read until the server closes the connection (the request
/// asks it to) or the timeout; nullopt when nothing that looks like HTTP answered. HTTP/1.1 unless
/// `version` says 1.0: a server never answers HTTP/1.0 in chunks, which this reader does not
/// decode (Prometheus's API chunks its larger answers to HTTP/1.1).
enum class http_version : std::uint8_t { v1_1, v1_0 };
struct http_response {
  int status = 0;
  std::string body;
};
std::optional<http_response> http_get(std::uint16_t port, std::string_view path,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(2),
                                      http_version version = http_version::v1_1);

/// The server binary: $LOADNS_SERVER_BINARY, else `fallback` (tests pass the CMake
/// $<TARGET_FILE:loadns-server> they were built with).
std::string server_binary(std::string_view fallback = {});

struct server_options {
  std::string binary;    ///< empty: server_binary()
  std::string conninfo;  ///< passed as --db
  std::string poll_interval = "1s";
  int threads = 2;
  bool metrics = true;  ///< --metrics-listen on a free loopback port
  bool query_log = false;
  std::vector<std::string> extra_args;
  /// ready: a DNS query gets an answer other than SERVFAIL (the first snapshot is loaded) and
  /// TCP accepts; listening: any DNS answer at all; none: return right after exec.
  enum class wait_for : std::uint8_t { ready, listening, none } wait = wait_for::ready;
  std::chrono::milliseconds start_timeout = std::chrono::seconds(20);
};

/// One running loadns-server. Throws std::runtime_error (with the server's log) when it does
/// not come up in time.
class server_process {
 public:
  explicit server_process(server_options options);
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint16_t metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  /// Everything the server wrote to stdout and stderr so far.
  std::string log() const;
  /// The last `max_bytes` of log(), for failure messages.
  std::string log_tail(std::size_t max_bytes = 8000) const;

  /// True while the process has not exited (reaps it when it has).
  bool running();
  /// Sends a signal to the process.
  void signal(int sig) const;
  /// Waits for the process to exit; its command_result-style exit code, or nullopt at deadline.
  std::optional<int> wait_exit(std::chrono::milliseconds deadline);
  /// SIGTERM, then wait up to `deadline`; the exit code, or nullopt when SIGKILL was needed.
  std::optional<int> stop(std::chrono::milliseconds deadline = std::chrono::seconds(5));

  /// Polls until the server answers DNS (any rcode when `any_rcode`, else not SERVFAIL) and
  /// accepts TCP; false at the deadline or when the process exited.
  bool wait_answering(std::chrono::milliseconds deadline, bool any_rcode = false);

  /// The argv the server was started with, for messages.
  std::string command_line() const;

 private:
  void launch();

  server_options options_;
  std::uint16_t port_ = 0;
  std::uint16_t metrics_port_ = 0;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  bool stop_requested_ = false;  ///< stop() was called: an exit is expected, not a crash
  std::string log_path_;
  std::vector<std::string> argv_;
};

}  // namespace loadns::test
