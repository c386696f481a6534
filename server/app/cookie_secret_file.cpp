#include "server/app/cookie_secret_file.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace loadns::app {

guard::cookie_keys read_cookie_secret_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the cookie secret file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  const auto keys = guard::parse_secret_text(text.str());
  if (!keys) {
    throw std::runtime_error("the cookie secret file " + path +
                             " does not hold a secret of 32 hexadecimal digits (128 bits, "
                             "RFC 9018 4.4), optionally a second one on the next line");
  }
  return *keys;
}

guard::cookie_keys random_cookie_keys() {
  guard::cookie_keys keys;
  std::random_device rd;
  for (auto& b : keys.current) b = static_cast<std::uint8_t>(rd());
  return keys;
}

cookie_secret_watcher::cookie_secret_watcher(std::string path, guard::cookie_secrets& secrets,
                                             std::chrono::milliseconds interval)
    : path_(std::move(path)), secrets_(secrets), interval_(interval), seen_(identify(path_)) {
  thread_ = std::thread([this] { run(); });
}

cookie_secret_watcher::~cookie_secret_watcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

cookie_secret_watcher::identity cookie_secret_watcher::identify(const std::string& path) noexcept {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::uintmax_t>(st.st_ino), static_cast<std::uintmax_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

void cookie_secret_watcher::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    try {
      check();
    } catch (const std::exception& e) {
      spdlog::error("cookie secret file {}: {}", path_, e.what());
    }
    lock.lock();
  }
}

void cookie_secret_watcher::check() {
  const identity now = identify(path_);
  if (now == seen_) return;
  guard::cookie_keys keys;
  try {
    keys = read_cookie_secret_file(path_);
  } catch (const std::exception& e) {
    // Perhaps caught mid-write: try again next time, but say so only once.
    if (!complained_) spdlog::error("{}; keeping the cookie secret in use", e.what());
    complained_ = true;
    return;
  }
  seen_ = now;
  complained_ = false;
  const guard::cookie_keys old = secrets_.load();
  if (!keys.has_previous) {
    if (keys.current != old.current) {
      keys.previous = old.current;  // cookies made until now stay valid for their hour
      keys.has_previous = true;
    } else {
      keys.previous = old.previous;  // the same secret (the file touched): nothing changes
      keys.has_previous = old.has_previous;
    }
  }
  if (keys.current == old.current && keys.previous == old.previous &&
      keys.has_previous == old.has_previous) {
    return;
  }
  secrets_.store(keys);
  spdlog::info("cookie secret file {} changed: new cookies are made with the new secret{}", path_,
               keys.has_previous ? ", the previous one is still accepted" : "");
}

}  // namespace loadns::app
