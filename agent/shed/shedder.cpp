#include "agent/shed/shedder.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>

namespace loadns::agent {

bool has_net_admin() noexcept {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) {
    return false;
  }
  return (data[CAP_NET_ADMIN / 32].effective & (1U << (CAP_NET_ADMIN % 32))) != 0;
}

shedder::shedder(std::string command, bool destroy, const socket_filter& filter,
                 connection_counter& counter)
    : command_(std::move(command)), destroy_(destroy), filter_(filter), counter_(counter) {}

bool shedder::probe_destroy(std::string& why) {
  if (!destroy_) {
    return true;
  }
  if (!has_net_admin()) {
    why =
        "--shed destroy needs CAP_NET_ADMIN (systemd: AmbientCapabilities=CAP_NET_ADMIN); "
        "connections will not be closed";
    destroy_ = false;
    return false;
  }
  // A request for a socket that cannot exist: ENOENT where the kernel can destroy sockets,
  // EOPNOTSUPP where it was built without CONFIG_INET_DIAG_DESTROY (the handler is missing).
  diag_socket nobody;
  nobody.family = ip_family::v4;
  nobody.state = tcp_state_established;
  nobody.local_port = 1;
  nobody.remote_port = 1;
  nobody.cookie = ~std::uint64_t{0} - 1;
  const std::error_code ec = counter_.netlink().destroy(nobody);
  if (ec == std::errc::operation_not_supported) {
    why =
        "--shed destroy: this kernel cannot destroy sockets (built without "
        "CONFIG_INET_DIAG_DESTROY); connections will not be closed";
    destroy_ = false;
    return false;
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    why = "--shed destroy: sock_diag SOCK_DESTROY probe failed: " + ec.message() +
          "; connections will not be closed";
    destroy_ = false;
    return false;
  }
  return true;
}

void shedder::observe() noexcept {
  if (!destroy_) {
    return;
  }
  socket_collector found(filter_);
  if (counter_.netlink().established(found) || found.out_of_memory) {
    return;  // the next count tries again; shed() still works, by cookie
  }
  ages_.observe(found.sockets);
}

void shedder::poll() noexcept {
  if (running_ && running_->finished()) {
    running_.reset();
  }
}

std::string shedder::shed(std::int64_t count) {
  std::string said;
  if (!command_.empty()) {
    poll();
    if (running_) {
      said += "--on-shed command still running from the last request; not started again";
    } else {
      running_ = std::make_unique<command_process>(
          command_, std::vector<std::string>{"LOADNS_SHED=" + std::to_string(count)});
      said += running_->started()
                  ? "--on-shed command started with LOADNS_SHED=" + std::to_string(count)
                  : "--on-shed: " + running_->error();
      if (!running_->started()) {
        running_.reset();
      }
    }
  }
  if (destroy_) {
    socket_collector found(filter_);
    if (const std::error_code ec = counter_.netlink().established(found)) {
      said += (said.empty() ? "" : "; ") + std::string("cannot list connections to shed: ") +
              ec.message();
      return said;
    }
    keep_newest(found.sockets, static_cast<std::size_t>(count), ages_);
    std::size_t closed = 0;
    std::error_code failed;
    for (const auto& s : found.sockets) {
      const std::error_code ec = counter_.netlink().destroy(s);
      if (!ec) {
        ++closed;
      } else if (ec != std::errc::no_such_file_or_directory) {  // gone already: fine
        failed = ec;
      }
    }
    said += (said.empty() ? "" : "; ") + std::string("closed ") + std::to_string(closed) +
            " of the newest connections";
    if (failed) {
      said += " (SOCK_DESTROY failed: " + failed.message() + ")";
    }
  }
  return said;
}

}  // namespace loadns::agent
