#include "client/resolver.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <stdexcept>
#include <string>

namespace loadns::client {
namespace {

// What the callback fills in; lives on resolve()'s stack for the lookup's duration.
struct pending_lookup {
  record_type type;
  lookup_result* result;
  bool done = false;
};

// Enough for any answer loadns gives (`answers` is a handful); more are dropped.
constexpr int max_addresses = 32;

void parse_answer(pending_lookup& p, const unsigned char* abuf, int alen) {
  char text[INET6_ADDRSTRLEN] = {};
  int count = max_addresses;
  int status = ARES_SUCCESS;
  if (p.type == record_type::a) {
    std::array<ares_addrttl, max_addresses> rows{};
    status = ares_parse_a_reply(abuf, alen, nullptr, rows.data(), &count);
    for (int i = 0; status == ARES_SUCCESS && i < count; ++i) {
      const auto& row = rows[static_cast<std::size_t>(i)];
      ::inet_ntop(AF_INET, &row.ipaddr, text, sizeof text);
      p.result->addresses.emplace_back(text);
      if (i == 0) {
        p.result->ttl = static_cast<std::uint32_t>(std::max(row.ttl, 0));
      }
    }
  } else {
    std::array<ares_addr6ttl, max_addresses> rows{};
    status = ares_parse_aaaa_reply(abuf, alen, nullptr, rows.data(), &count);
    for (int i = 0; status == ARES_SUCCESS && i < count; ++i) {
      const auto& row = rows[static_cast<std::size_t>(i)];
      ::inet_ntop(AF_INET6, &row.ip6addr, text, sizeof text);
      p.result->addresses.emplace_back(text);
      if (i == 0) {
        p.result->ttl = static_cast<std::uint32_t>(std::max(row.ttl, 0));
      }
    }
  }
  // An answer section with only a CNAME, or an empty one, parses to ENODATA.
  if (status == ARES_SUCCESS && p.result->addresses.empty()) {
    status = ARES_ENODATA;
  }
  p.result->status = from_ares_status(status);
  if (status != ARES_SUCCESS) {
    p.result->detail = ares_strerror(status);
  }
}

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto& p = *static_cast<pending_lookup*>(arg);
  p.done = true;
  if (status != ARES_SUCCESS) {
    p.result->status = from_ares_status(status);
    p.result->detail = ares_strerror(status);
    return;
  }
  parse_answer(p, abuf, alen);
}

}  // namespace

bool parse_record_type(std::string_view word, record_type& out) noexcept {
  auto equals = [word](std::string_view upper) {
    return std::equal(word.begin(), word.end(), upper.begin(), upper.end(),
                      [](char a, char b) { return (a >= 'a' && a <= 'z' ? a - 32 : a) == b; });
  };
  if (equals("A")) {
    out = record_type::a;
    return true;
  }
  if (equals("AAAA")) {
    out = record_type::aaaa;
    return true;
  }
  return false;
}

std::string_view to_string(record_type type) noexcept {
  return type == record_type::a ? "A" : "AAAA";
}

resolver::resolver(const resolver_options& options) : timeout_(options.timeout) {
  if (const int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS) {
    throw std::runtime_error(std::string("c-ares: ") + ares_strerror(rc));
  }
  ares_options opts{};
  // Retransmit a few times within the deadline; resolve() enforces the deadline itself, as
  // c-ares doubles the per-try timeout on every round (RFC 1536 section 1 back-off).
  opts.timeout = static_cast<int>(std::max<std::int64_t>(100, options.timeout.count() / 4));
  opts.tries = std::max(1, options.tries);
  // c-ares treats SERVFAIL, NOTIMP and REFUSED as "try the next server" and, once every server
  // has been skipped, reports ECONNREFUSED, which hides the rcode. With one named server there
  // is nobody else to ask, so take its response as the answer and report its rcode.
  const bool one_server =
      !options.servers.empty() && options.servers.find(',') == std::string::npos;
  opts.flags = one_server ? ARES_FLAG_NOCHECKRESP : 0;
  const int rc =
      ares_init_options(&channel_, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
  if (rc != ARES_SUCCESS) {
    ares_library_cleanup();
    throw std::runtime_error(std::string("c-ares: cannot start a resolver: ") + ares_strerror(rc));
  }
  if (!options.servers.empty()) {
    if (const int src = ares_set_servers_ports_csv(channel_, options.servers.c_str());
        src != ARES_SUCCESS) {
      ares_destroy(channel_);
      ares_library_cleanup();
      throw std::invalid_argument("bad --server '" + options.servers +
                                  "': expected IP[:PORT] such as 127.0.0.1:5300 or [::1]:5300 (" +
                                  ares_strerror(src) + ")");
    }
  }
}

resolver::~resolver() {
  ares_destroy(channel_);
  ares_library_cleanup();
}

lookup_result resolver::resolve(std::string_view name, record_type type) {
  lookup_result result;
  pending_lookup pending{type, &result};
  const std::string query_name(name);
  // ares_query, not ares_search: a nonce name is fully qualified, and the search list would
  // turn an NXDOMAIN into further queries for names nobody asked about.
  ares_query(channel_, query_name.c_str(), ns_c_in, type == record_type::a ? ns_t_a : ns_t_aaaa,
             on_answer, &pending);
  drive(pending.done, std::chrono::steady_clock::now() + timeout_);
  if (result.status == lookup_status::timeout) {
    result.detail = "no answer within " + std::to_string(timeout_.count()) + " ms";
  }
  return result;
}

void resolver::drive(const bool& done, std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono;
  while (!done) {
    const auto now = steady_clock::now();
    if (now >= deadline) {
      ares_cancel(channel_);  // calls back with ARES_ECANCELLED: a timeout to the caller
      return;
    }
    std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> socks{};
    const int bits = ares_getsock(channel_, socks.data(), ARES_GETSOCK_MAXNUM);
    std::array<pollfd, ARES_GETSOCK_MAXNUM> fds{};
    nfds_t nfds = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) {
        events |= POLLIN;
      }
      if (ARES_GETSOCK_WRITABLE(bits, i)) {
        events |= POLLOUT;
      }
      if (events == 0) {
        continue;
      }
      fds[nfds++] = pollfd{socks[static_cast<std::size_t>(i)], events, 0};
    }
    const auto left = duration_cast<microseconds>(deadline - now);
    timeval max_tv{static_cast<time_t>(left.count() / 1'000'000),
                   static_cast<suseconds_t>(left.count() % 1'000'000)};
    timeval tv{};
    const timeval* wait = ares_timeout(channel_, &max_tv, &tv);
    // Round up so that a sub-millisecond wait does not become a busy loop.
    const auto wait_ms = wait->tv_sec * 1000 + (wait->tv_usec + 999) / 1000;
    const int rc = ::poll(fds.data(), nfds, static_cast<int>(wait_ms));
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      ares_cancel(channel_);
      return;
    }
    if (rc == 0) {
      ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // retransmit or time out
      continue;
    }
    for (nfds_t i = 0; i < nfds && !done; ++i) {
      const auto re = fds[i].revents;
      if (re == 0) {
        continue;
      }
      const bool readable = (re & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool writable = (re & POLLOUT) != 0;
      ares_process_fd(channel_, readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
    }
  }
}

}  // namespace loadns::client
