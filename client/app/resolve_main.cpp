// loadns-resolve: resolves a fresh nonce name per lookup (README, "loadns-resolve"), the reference
// client for loadns. Prints `NONCE-NAME ADDRESS` per lookup and, with --count, how the
// answers spread over addresses.

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "client/nonce.hpp"
#include "client/resolver.hpp"
#include "client/spread.hpp"
#include "common/duration.hpp"

namespace {

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

constexpr const char* footer =
    R"(Exit status: 0 every lookup answered; 3 NXDOMAIN; 4 NODATA (no record of
the type); 5 SERVFAIL; 6 REFUSED (the server is not authoritative for the name);
7 timeout; 8 any other DNS failure; 2 bad arguments; 1 other errors. With --count,
the status of the first failed lookup.

Example: loadns-resolve --server 127.0.0.1:5300 --count 30 api.example.com)";

}  // namespace

static int run(int argc, char** argv) {
  using namespace loadns::client;

  CLI::App app{"Resolve a fresh nonce name per lookup with c-ares, as a loadns client does.",
               "loadns-resolve"};
  app.footer(footer);
  app.set_version_flag("--version", std::string("loadns-resolve ") + LOADNS_VERSION);

  std::string server;
  std::string type_word = "A";
  std::string style_word = "dash";
  std::size_t count = 1;
  std::string timeout_text = "5s";
  std::size_t nonce_length = default_nonce_length;
  std::string name;
  app.add_option("--server", server,
                 "DNS server IP[:PORT] (e.g. 127.0.0.1:5300, [::1]:5300); several separated "
                 "by commas; default: the system resolvers");
  app.add_option("--type", type_word, "Record type: A or AAAA")->capture_default_str();
  app.add_option("--style", style_word,
                 "Nonce style: dash (NONCE-api.example.com) or label (NONCE.api.example.com)")
      ->capture_default_str();
  auto* count_opt = app.add_option("--count", count, "Lookups to make; prints a summary")
                        ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
  app.add_option("--timeout", timeout_text, "Deadline per lookup (500ms, 2s, ...)")
      ->capture_default_str();
  app.add_option("--nonce-length", nonce_length, "Nonce characters (1-48)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, max_nonce_length));
  app.add_option("NAME", name, "The balanced name, e.g. api.example.com")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_usage;
  }

  record_type type{};
  if (!parse_record_type(type_word, type)) {
    fmt::print(stderr, "loadns-resolve: --type must be A or AAAA, not '{}'\n", type_word);
    return exit_usage;
  }
  nonce_style style{};
  if (!parse_nonce_style(style_word, style)) {
    fmt::print(stderr, "loadns-resolve: --style must be dash or label, not '{}'\n", style_word);
    return exit_usage;
  }
  const auto timeout = loadns::parse_duration(timeout_text);
  if (!timeout || timeout->count() == 0) {
    fmt::print(stderr, "loadns-resolve: --timeout '{}' is not a duration like 500ms or 2s\n",
               timeout_text);
    return exit_usage;
  }
  // Check the name once up front, so a bad name is a usage error and not N failed lookups.
  {
    std::string probe;
    if (const auto ec = compose_nonce_name(name, std::string(nonce_length, 'a'), style, probe)) {
      fmt::print(stderr, "loadns-resolve: cannot make a nonce name from '{}': {}\n", name,
                 ec.message());
      return exit_usage;
    }
  }

  try {
    resolver dns({server, *timeout});
    spread tally;
    int status = 0;
    std::string nonce_name;
    for (std::size_t i = 0; i < count; ++i) {
      if (const auto ec = make_nonce_name(name, style, nonce_name, nonce_length)) {
        fmt::print(stderr, "loadns-resolve: {}\n", ec.message());
        return exit_failure;
      }
      const auto result = dns.resolve(nonce_name, type);
      if (result.status == lookup_status::ok) {
        fmt::print("{} {}\n", nonce_name, fmt::join(result.addresses, " "));
        tally.add_answer(result.addresses.front());
      } else {
        fmt::print(stderr, "{} {}: {}\n", nonce_name, to_string(result.status), result.detail);
        tally.add_failure(result.status);
        if (status == 0) {
          status = exit_code(result.status);
        }
      }
    }
    if (count_opt->count() > 0) {
      std::fflush(stdout);
      fmt::print("{}", tally.format());
    }
    return status;
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "loadns-resolve: {}\n", e.what());
    return exit_usage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "loadns-resolve: {}\n", e.what());
    return exit_failure;
  }
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // only allocation failures get here
    fmt::print(stderr, "loadns-resolve: {}\n", e.what());
    return exit_failure;
  }
}
