#include "client/random.hpp"

#include <sys/random.h>

#include <cerrno>

namespace loadns::client {

std::error_code fill_random(std::span<std::uint8_t> out) noexcept {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return {errno, std::generic_category()};
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace loadns::client
