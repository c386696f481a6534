#pragma once

#include <string>

namespace loadns::app {

/// spdlog to stderr with a level from --log-level; systemd's journal adds its own timestamps,
/// but a terminal or a file does not, so keep them.
void setup_logging(const std::string& level);

}  // namespace loadns::app
