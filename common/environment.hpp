#pragma once
// LOADNS_* environment variables: every binary reads each of its flags from one (flags win),
// and refuses to start when the environment holds a LOADNS_* name it does not know, because
// a misspelt variable would otherwise be ignored without a word (LOADNS_POL_INTERVAL=100ms
// leaving the default in force).

#include <string>
#include <string_view>
#include <vector>

namespace loadns {

/// The environment name of a flag: "--check-interval" -> "LOADNS_CHECK_INTERVAL".
[[nodiscard]] std::string flag_env_name(std::string_view flag);

/// Variables that loadns's own scripts and tests read (scripts/demo's LOADNS_BIN_DIR and
/// LOADNS_*_BIN, the tests' LOADNS_*_BINARY): present in the environment of binaries those
/// scripts start, never a flag, so no binary refuses them.
[[nodiscard]] bool is_tool_variable(std::string_view name) noexcept;

/// The LOADNS_* names in `env` (an environ-style array, nullptr-terminated; nullptr is an
/// empty environment) that are neither in `known` nor tool variables, in environment order.
[[nodiscard]] std::vector<std::string> unknown_loadns_variables(
    const char* const* env, const std::vector<std::string>& known);

/// One message for `unknown` (as returned above), naming the closest known variable when one
/// is a likely misspelling: "unknown environment variable LOADNS_INTERVALL (did you mean
/// LOADNS_INTERVAL?)". Empty when `unknown` is empty.
[[nodiscard]] std::string unknown_variables_message(const std::vector<std::string>& unknown,
                                                    const std::vector<std::string>& known);

}  // namespace loadns
