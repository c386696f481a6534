#include "server/app/address_probe.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace loadns::app {
namespace {

// Binds a socket of `type` to the address without SO_REUSEPORT; the errno, 0 when it bound.
int try_bind(const listen_address& address, int type) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  if (address.host.find(':') != std::string::npos) {
    family = AF_INET6;
    auto& sa = reinterpret_cast<sockaddr_in6&>(storage);  // NOLINT: the sockets API
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(address.port);
    if (::inet_pton(AF_INET6, address.host.c_str(), &sa.sin6_addr) != 1) return EINVAL;
    length = sizeof sa;
  } else {
    auto& sa = reinterpret_cast<sockaddr_in&>(storage);  // NOLINT: the sockets API
    sa.sin_family = AF_INET;
    sa.sin_port = htons(address.port);
    if (::inet_pton(AF_INET, address.host.c_str(), &sa.sin_addr) != 1) return EINVAL;
    length = sizeof sa;
  }
  const int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int on = 1;
  // As the workers bind: IPv6 sockets for IPv6 only, so [::] and 0.0.0.0 are two addresses.
  if (family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  // TCP: SO_REUSEADDR lets the probe past TIME_WAIT leftovers of an earlier run, never past
  // a listening socket (on Linux, unlike BSD).
  if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&storage), length);  // NOLINT
  const int error = rc == 0 ? 0 : errno;
  ::close(fd);
  return error;
}

// Socket inodes bound to `port` in one /proc/net table: every UDP socket, TCP listeners only.
void inodes_in(const char* table, bool udp, std::uint16_t port, std::set<std::string>& out) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> inode;
    const auto colon = local.rfind(':');
    if (colon == std::string::npos || inode.empty() || inode == "0") continue;
    if (std::stoul(local.substr(colon + 1), nullptr, 16) != port) continue;
    if (!udp && state != "0A") continue;  // 0A: TCP_LISTEN
    out.insert("socket:[" + inode + "]");
  }
}

}  // namespace

std::string port_holders(bool udp, std::uint16_t port) {
  std::set<std::string> inodes;
  inodes_in(udp ? "/proc/net/udp" : "/proc/net/tcp", udp, port, inodes);
  inodes_in(udp ? "/proc/net/udp6" : "/proc/net/tcp6", udp, port, inodes);
  if (inodes.empty()) return {};
  std::set<std::string> holders;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return {};
  while (const dirent* entry = ::readdir(proc)) {
    const std::string pid = entry->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string fd_dir = "/proc/" + pid + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    while (const dirent* fd = ::readdir(fds)) {
      char target[64] = {};
      const auto n = ::readlink((fd_dir + "/" + fd->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0 || inodes.count(std::string(target, static_cast<std::size_t>(n))) == 0) continue;
      std::string comm;
      std::getline(std::ifstream("/proc/" + pid + "/comm"), comm);
      holders.insert("pid " + pid + " (" + comm + ")");
      break;
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  std::string text;
  for (const auto& h : holders) text += (text.empty() ? "" : ", ") + h;
  return text;
}

std::optional<std::string> address_in_use(const listen_address& address) {
  if (address.port == 0) return std::nullopt;  // an ephemeral port is never shared
  for (const bool udp : {true, false}) {
    if (try_bind(address, udp ? SOCK_DGRAM : SOCK_STREAM) != EADDRINUSE) continue;
    const auto holders = port_holders(udp, address.port);
    return address.to_string() + (udp ? "/udp" : "/tcp") + " is already served by " +
           (holders.empty() ? std::string("another process") : holders) +
           ": a second server there would split the queries with it, in silence";
  }
  return std::nullopt;
}

}  // namespace loadns::app
