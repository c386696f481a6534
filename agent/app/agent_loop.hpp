#pragma once
// The agent's one loop: count every interval, report the latest count, ride out database
// outages with backoff, and on SIGTERM/SIGINT report draining and stop.

#include "agent/app/config.hpp"
#include "agent/app/signals.hpp"

namespace loadns::agent {

/// Runs until a stop signal; returns the process exit code (0).
int run_agent(const config& cfg, stop_signals& signals);

}  // namespace loadns::agent
