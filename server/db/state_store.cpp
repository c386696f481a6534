#include "server/db/state_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "server/core/state_file.hpp"

namespace loadns::db {
namespace {

using std::chrono::milliseconds;

// Closes the descriptor when the scope ends.
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void write_all(int fd, const std::string& bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write " + path);
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::int64_t wall_ms_at(core::clock::time_point t) {
  const auto wall = std::chrono::system_clock::now().time_since_epoch();
  const auto since = core::clock::now() - t;
  return std::chrono::duration_cast<milliseconds>(wall - since).count();
}

state_store::state_store(std::string dir, milliseconds min_interval)
    : dir_(std::move(dir)), path_(dir_ + "/source.state"), min_interval_(min_interval) {}

state_store::loaded state_store::load() const {
  loaded out;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.missing = errno == ENOENT;
    out.error = std::strerror(errno);
    return out;
  }
  const fd_guard guard{fd};
  std::string bytes;
  char buf[65536];
  for (;;) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      out.error = std::string("read: ") + std::strerror(errno);
      return out;
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<std::size_t>(n));
  }
  auto decoded = core::decode_state(bytes, wall_ms_at(core::clock::now()));
  out.src = std::move(decoded.src);
  out.error = std::move(decoded.error);
  out.saved_at_ms = decoded.saved_at_ms;
  return out;
}

bool state_store::save(const core::source& src, std::int64_t at_ms, core::clock::time_point now) {
  if (attempted_ && now - last_write_ < min_interval_) return false;
  if (written_ && core::same_state(src, at_ms, *written_, written_at_ms_)) return false;
  attempted_ = true;  // a failing disk is retried at the same pace
  last_write_ = now;

  const auto bytes = core::encode_state(src, at_ms);
  const auto temp = path_ + ".tmp";
  {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) fail("open " + temp);
    const fd_guard guard{fd};
    try {
      write_all(fd, bytes, temp);
      if (::fsync(fd) != 0) fail("fsync " + temp);
    } catch (...) {
      ::unlink(temp.c_str());
      throw;
    }
  }
  if (::rename(temp.c_str(), path_.c_str()) != 0) {
    const auto saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    fail("rename " + temp + " to " + path_);
  }
  // The rename is durable once the folder is.
  const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail("open " + dir_);
  const fd_guard guard{dir_fd};
  if (::fsync(dir_fd) != 0) fail("fsync " + dir_);
  written_ = src;
  written_at_ms_ = at_ms;
  return true;
}

}  // namespace loadns::db
