// Makes a nonce name and, given a server, resolves it: the README's C++ snippet as an
// application. Usage: consumer NAME [SERVER]  (prints "NONCE-NAME ADDRESS" or the failure)
#include <cstdio>
#include <span>
#include <string>
#include <system_error>

#include "client/nonce.hpp"
#include "client/resolver.hpp"

namespace {
// std::span in the application's own code: needs the C++20 that loadns::client propagates.
int count_args(std::span<char*> args) {
  return (int)args.size();
}  // a C cast: no -Werror here
}  // namespace

int main(int argc, char** argv) {
  if (count_args(std::span<char*>(argv, static_cast<std::size_t>(argc))) < 2) {
    std::fprintf(stderr, "usage: consumer NAME [SERVER]\n");
    return 2;
  }
  // The README's snippet, as written there.
  loadns::client::resolver dns({argc > 2 ? argv[2] : ""});  // "" : the system resolvers
  std::string name;
  if (auto ec = loadns::client::make_nonce_name(argv[1], loadns::client::nonce_style::dash, name)) {
    throw std::system_error(ec);  // label > 63 or name > 253 characters
  }
  if (argc < 3) {
    std::printf("%s\n", name.c_str());
    return 0;
  }
  auto answer = dns.resolve(name, loadns::client::record_type::a);
  if (answer.status != loadns::client::lookup_status::ok) {
    std::printf("%s %s\n", name.c_str(), std::string(to_string(answer.status)).c_str());
    return 1;
  }
  std::printf("%s %s\n", name.c_str(), answer.addresses.front().c_str());
  return 0;
}
