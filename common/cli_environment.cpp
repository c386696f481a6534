#include "common/cli_environment.hpp"

#include <algorithm>

#include "common/environment.hpp"

namespace loadns {
namespace {

void collect(const CLI::App& app, std::vector<std::string>& names) {
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->get_envname().empty() &&
        std::find(names.begin(), names.end(), opt->get_envname()) == names.end()) {
      names.push_back(opt->get_envname());
    }
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    collect(*sub, names);
  }
}

}  // namespace

void bind_environment(CLI::App& app, const std::vector<std::string>& without) {
  for (CLI::Option* opt : app.get_options([](const CLI::Option*) { return true; })) {
    if (opt == app.get_help_ptr() || opt == app.get_help_all_ptr() ||
        opt == app.get_version_ptr() || opt->get_lnames().empty() ||
        std::find(without.begin(), without.end(), "--" + opt->get_lnames().front()) !=
            without.end()) {
      continue;  // --help, --version, positional arguments and actions have no variable
    }
    if (opt->get_envname().empty()) opt->envname(flag_env_name(opt->get_lnames().front()));
    if (opt->get_type_size() != 0) {  // a flag shows no "=false", an empty list no "=[]"
      opt->capture_default_str();
      if (opt->get_default_str() == "[]") opt->default_str("");
    }
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    bind_environment(*sub, without);
  }
}

std::vector<std::string> environment_names(const CLI::App& app) {
  std::vector<std::string> names;
  collect(app, names);
  std::sort(names.begin(), names.end());
  return names;
}

std::string check_environment(const CLI::App& app, const char* const* envp) {
  const auto known = environment_names(app);
  const auto unknown = unknown_loadns_variables(envp, known);
  if (unknown.empty()) return {};
  std::string all;
  for (const auto& name : known) all += (all.empty() ? "" : " ") + name;
  return app.get_name() + ": " + unknown_variables_message(unknown, known) +
         ". Unset it, or use one of: " + all + " (see --help)";
}

}  // namespace loadns
