#pragma once
// The DNS cookie secret file (--cookie-secret-file): read at startup, then watched, so that a
// secret rotated on every server of a zone (RFC 9018 5) takes effect without a restart.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "server/guard/cookie_secrets.hpp"

namespace loadns::app {

/// The keys in `path`. Throws std::runtime_error naming the file and what is wrong.
guard::cookie_keys read_cookie_secret_file(const std::string& path);

/// A random secret, for a server given no file: its cookies are its own.
guard::cookie_keys random_cookie_keys();

/// Checks the file's identity (inode, size, modification time) every `interval` on a thread
/// of its own and stores new keys into `secrets` when it changed. A secret replaced without
/// a second line stays accepted as the previous one, so cookies already handed out stay
/// valid. A file that turns unreadable or invalid is logged once and the old keys kept.
class cookie_secret_watcher {
 public:
  cookie_secret_watcher(std::string path, guard::cookie_secrets& secrets,
                        std::chrono::milliseconds interval);
  ~cookie_secret_watcher();
  cookie_secret_watcher(const cookie_secret_watcher&) = delete;
  cookie_secret_watcher& operator=(const cookie_secret_watcher&) = delete;

 private:
  struct identity {
    std::uintmax_t inode = 0, size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const identity&) const = default;
  };
  static identity identify(const std::string& path) noexcept;
  void run();
  void check();

  std::string path_;
  guard::cookie_secrets& secrets_;
  std::chrono::milliseconds interval_;
  identity seen_;
  bool complained_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace loadns::app
