#pragma once
// The one source of randomness for nonces: the kernel CSPRNG.

#include <cstdint>
#include <span>
#include <system_error>

namespace loadns::client {

/// Fills `out` from getrandom(2) (the urandom pool; blocks only before the pool is first
/// initialised at boot). Retries on EINTR and short reads; returns the errno otherwise.
std::error_code fill_random(std::span<std::uint8_t> out) noexcept;

}  // namespace loadns::client
