#pragma once
// CLI11 glue for common/environment.hpp: every flag of a command line gets its LOADNS_*
// variable and shows its default in --help, and the environment is checked against exactly
// the variables that command line reads.
//
// Use: build the CLI::App, call bind_environment(app), then check_environment(app, environ)
// before app.parse(); print the message and exit 2 when it is not empty.

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace loadns {

/// Gives every long option of `app` and of its subcommands the variable flag_env_name(flag)
/// unless it has one, and shows each option's current value as its default in --help (flags
/// and empty lists excepted). Call after every option is added. `without` lists flags that
/// are actions rather than configuration (--check-config): they get no variable.
void bind_environment(CLI::App& app, const std::vector<std::string>& without = {});

/// Every variable `app` and its subcommands read.
[[nodiscard]] std::vector<std::string> environment_names(const CLI::App& app);

/// "PROGRAM: unknown environment variable LOADNS_X (did you mean LOADNS_Y?)" for the LOADNS_*
/// variables of `envp` (environ-style) that `app` does not read; empty when there are none.
[[nodiscard]] std::string check_environment(const CLI::App& app, const char* const* envp);

}  // namespace loadns
