#include "tests/support/dns_client.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "tests/support/server_process.hpp"

namespace loadns::test {
namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    std::size_t j = i;
    if (s[i] == '"') {  // keep a quoted TXT string, spaces included, as one field
      ++j;
      while (j < s.size() && s[j] != '"') j += s[j] == '\\' ? 2U : 1U;
      j = std::min(j + 1, s.size());
    } else {
      while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    }
    out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

/// "key: value, key: value" after a prefix; returns the value of `key` up to ',' or ';'.
std::string field(std::string_view line, std::string_view key) {
  const auto k = line.find(std::string(key) + ":");
  if (k == std::string_view::npos) return {};
  auto v = line.substr(k + key.size() + 1);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  const auto end = v.find_first_of(",;");
  return std::string(v.substr(0, end));
}

int ms_left(steady::time_point until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

}  // namespace

// --------------------------------------------------------------------------------------------
// dig

bool dig_response::flag(std::string_view f) const {
  return std::find(flags.begin(), flags.end(), f) != flags.end();
}

bool dig_response::edns_flag(std::string_view f) const {
  return std::find(edns_flags.begin(), edns_flags.end(), f) != edns_flags.end();
}

std::vector<dig_record> dig_response::answers_of(std::string_view type) const {
  std::vector<dig_record> out;
  for (const auto& r : answer)
    if (r.type == type) out.push_back(r);
  return out;
}

std::vector<std::string> dig_response::answer_data(std::string_view type) const {
  std::vector<std::string> out;
  for (const auto& r : answer)
    if (r.type == type) out.push_back(r.data);
  return out;
}

dig_response dig_result::response() const {
  CHECK_MESSAGE(answered(), "dig got no response (exit " << exit_code << ")\n" << output);
  return responses.empty() ? dig_response{} : responses.back();
}

std::vector<dig_response> parse_dig_output(std::string_view output) {
  std::vector<dig_response> out;
  enum class section { none, question, answer, authority, additional, opt } sec = section::none;
  dig_response* cur = nullptr;
  std::size_t pos = 0;
  while (pos <= output.size()) {
    auto eol = output.find('\n', pos);
    if (eol == std::string_view::npos) eol = output.size();
    const std::string_view line = output.substr(pos, eol - pos);
    pos = eol + 1;

    if (starts_with(line, ";; ->>HEADER<<-")) {
      out.emplace_back();
      cur = &out.back();
      sec = section::none;
      cur->opcode = field(line, "opcode");
      cur->status = field(line, "status");
      cur->id = static_cast<std::uint16_t>(std::stoul(field(line, "id")));
    }
    if (cur == nullptr) continue;
    cur->text.append(line).push_back('\n');

    if (starts_with(line, ";; flags:")) {
      // ";; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1"
      const auto semi = line.find(';', 3);
      const auto names = line.substr(9, semi == std::string_view::npos ? line.npos : semi - 9);
      cur->flags = split_ws(names);
      cur->qdcount = static_cast<unsigned>(std::stoul("0" + field(line, "QUERY")));
      cur->ancount = static_cast<unsigned>(std::stoul("0" + field(line, "ANSWER")));
      cur->nscount = static_cast<unsigned>(std::stoul("0" + field(line, "AUTHORITY")));
      cur->arcount = static_cast<unsigned>(std::stoul("0" + field(line, "ADDITIONAL")));
    } else if (starts_with(line, ";; OPT PSEUDOSECTION:")) {
      sec = section::opt;
      cur->edns = true;
    } else if (starts_with(line, "; EDNS:")) {
      // "; EDNS: version: 0, flags: do; MBZ: 0x0080, udp: 1232"
      cur->edns = true;
      cur->edns_version = std::stoi("0" + field(line, "version"));
      const auto f = line.find("flags:");
      if (f != std::string_view::npos) {
        auto rest = line.substr(f + 6);
        cur->edns_flags = split_ws(rest.substr(0, rest.find(';')));
      }
      cur->edns_mbz = field(line, "MBZ");
      cur->edns_udp = static_cast<unsigned>(std::stoul("0" + field(line, "udp")));
    } else if (starts_with(line, ";; QUESTION SECTION:")) {
      sec = section::question;
    } else if (starts_with(line, ";; ANSWER SECTION:")) {
      sec = section::answer;
    } else if (starts_with(line, ";; AUTHORITY SECTION:")) {
      sec = section::authority;
    } else if (starts_with(line, ";; ADDITIONAL SECTION:")) {
      sec = section::additional;
    } else if (starts_with(line, ";; MSG SIZE")) {
      cur->msg_size = static_cast<std::size_t>(std::stoul("0" + field(line, "rcvd")));
      sec = section::none;
    } else if (line.empty()) {
      if (sec != section::opt) sec = section::none;
    } else if (sec == section::question && starts_with(line, ";")) {
      // ";aPi.ExAmPLE.coM.		IN	A"
      const auto f = split_ws(line.substr(1));
      if (f.size() >= 3) cur->question.push_back({f[0], 0, f[1], f[2], {}});
    } else if ((sec == section::answer || sec == section::authority ||
                sec == section::additional) &&
               !starts_with(line, ";")) {
      const auto f = split_ws(line);
      if (f.size() < 4) continue;
      dig_record r{f[0], static_cast<std::uint32_t>(std::stoul(f[1])), f[2], f[3], {}};
      for (std::size_t i = 4; i < f.size(); ++i) {
        if (i > 4) r.data.push_back(' ');
        r.data += f[i];
      }
      (sec == section::answer      ? cur->answer
       : sec == section::authority ? cur->authority
                                   : cur->additional)
          .push_back(std::move(r));
    }
  }
  return out;
}

dig_result dig_args(std::uint16_t port, transport t, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/dig",       "+norec",    "+time=2", "+tries=1", "-p",
                                std::to_string(port), "@127.0.0.1"};
  if (t == transport::tcp) argv.emplace_back("+tcp");
  argv.insert(argv.end(), args.begin(), args.end());
  const auto run = run_command(argv, 30s);
  dig_result r;
  r.exit_code = run.exit_code;
  std::string cmd;
  for (const auto& a : argv) cmd += a + " ";
  r.output = "$ " + cmd + "\n" + run.out + run.err;
  r.responses = parse_dig_output(run.out);
  return r;
}

dig_result dig(std::uint16_t port, transport t, std::string_view name, std::string_view type,
               const std::vector<std::string>& options) {
  std::vector<std::string> args = options;
  args.emplace_back("-q");  // so that a name starting with '-' is not taken for an option
  args.emplace_back(name);
  args.emplace_back("-t");
  args.emplace_back(type);
  return dig_args(port, t, args);
}

// --------------------------------------------------------------------------------------------
// Raw packets

std::optional<header_view> parse_header(std::span<const std::uint8_t> m) {
  if (m.size() < 12) return std::nullopt;
  auto u16 = [&](std::size_t at) { return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]); };
  header_view h;
  h.id = u16(0);
  const std::uint16_t f = u16(2);
  h.qr = (f & 0x8000) != 0;
  h.opcode = static_cast<std::uint8_t>((f >> 11) & 0xf);
  h.aa = (f & 0x0400) != 0;
  h.tc = (f & 0x0200) != 0;
  h.rd = (f & 0x0100) != 0;
  h.ra = (f & 0x0080) != 0;
  h.ad = (f & 0x0020) != 0;
  h.cd = (f & 0x0010) != 0;
  h.rcode = static_cast<std::uint8_t>(f & 0xf);
  h.qdcount = u16(4);
  h.ancount = u16(6);
  h.nscount = u16(8);
  h.arcount = u16(10);
  return h;
}

std::optional<std::vector<std::uint8_t>> udp_exchange(std::uint16_t port,
                                                      std::span<const std::uint8_t> packet,
                                                      std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_fd{fd};
  const sockaddr_in sa = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return std::nullopt;
  if (::send(fd, packet.data(), packet.size(), 0) < 0) return std::nullopt;
  const auto until = steady::now() + timeout;
  std::vector<std::uint8_t> buf(65535);
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int left = ms_left(until);
    if (left == 0 || ::poll(&p, 1, left) <= 0) return std::nullopt;
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;  // ECONNREFUSED: nothing listening
    }
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
}

tcp_client::tcp_client(std::uint16_t port, std::chrono::milliseconds timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const sockaddr_in sa = loopback(port);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    if (errno != EINPROGRESS) {
      const int e = errno;
      ::close(fd_);
      throw std::runtime_error(std::string("connect: ") + std::strerror(e));
    }
    pollfd p{fd_, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0 ||
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      ::close(fd_);
      throw std::runtime_error(std::string("connect: ") +
                               (err != 0 ? std::strerror(err) : "timed out"));
    }
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

tcp_client::~tcp_client() {
  if (fd_ >= 0) ::close(fd_);
}

bool tcp_client::send_raw(std::span<const std::uint8_t> bytes) {
  std::size_t done = 0;
  const auto until = steady::now() + 2s;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd_, POLLOUT, 0};
      if (ms_left(until) == 0 || ::poll(&p, 1, ms_left(until)) < 0) return false;
      continue;
    }
    closed_ = true;
    return false;
  }
  return true;
}

bool tcp_client::send_message(std::span<const std::uint8_t> msg) {
  std::vector<std::uint8_t> framed;
  framed.reserve(msg.size() + 2);
  put16(framed, static_cast<std::uint16_t>(msg.size()));
  framed.insert(framed.end(), msg.begin(), msg.end());
  return send_raw(framed);
}

bool tcp_client::read_exact(std::uint8_t* out, std::size_t n, steady::time_point until) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::recv(fd_, out + done, n - done, 0);
    if (r > 0) {
      done += static_cast<std::size_t>(r);
      continue;
    }
    if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
      closed_ = true;
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    const int left = ms_left(until);
    if (left == 0 || ::poll(&p, 1, left) <= 0) return false;
  }
  return true;
}

std::optional<std::vector<std::uint8_t>> tcp_client::read_message(
    std::chrono::milliseconds timeout) {
  const auto until = steady::now() + timeout;
  std::uint8_t len[2];
  if (!read_exact(len, 2, until)) return std::nullopt;
  std::vector<std::uint8_t> msg(static_cast<std::size_t>((len[0] << 8) | len[1]));
  if (!read_exact(msg.data(), msg.size(), until)) return std::nullopt;
  return msg;
}

std::optional<std::vector<std::uint8_t>> exchange(std::uint16_t port, transport t,
                                                  std::span<const std::uint8_t> packet,
                                                  std::chrono::milliseconds timeout) {
  if (t == transport::udp) return udp_exchange(port, packet, timeout);
  try {
    tcp_client c(port, timeout);
    if (!c.send_message(packet)) return std::nullopt;
    return c.read_message(timeout);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// --------------------------------------------------------------------------------------------
// c-ares

namespace {

struct cares_query_state {
  bool done = false;
  bool ipv6 = false;
  cares_result* result = nullptr;
};

void on_cares_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* st = static_cast<cares_query_state*>(arg);
  st->done = true;
  cares_result& r = *st->result;
  r.status = status;
  if (status != ARES_SUCCESS) return;
  char text[INET6_ADDRSTRLEN];
  if (st->ipv6) {
    ares_addr6ttl ttls[64];
    int n = 64;
    r.status = ares_parse_aaaa_reply(abuf, alen, nullptr, ttls, &n);
    for (int i = 0; r.status == ARES_SUCCESS && i < n; ++i) {
      const auto& e = ttls[static_cast<std::size_t>(i)];
      ::inet_ntop(AF_INET6, &e.ip6addr, text, sizeof text);
      r.addresses.emplace_back(text);
      r.ttls.push_back(static_cast<std::uint32_t>(e.ttl));
    }
  } else {
    ares_addrttl ttls[64];
    int n = 64;
    r.status = ares_parse_a_reply(abuf, alen, nullptr, ttls, &n);
    for (int i = 0; r.status == ARES_SUCCESS && i < n; ++i) {
      const auto& e = ttls[static_cast<std::size_t>(i)];
      ::inet_ntop(AF_INET, &e.ipaddr, text, sizeof text);
      r.addresses.emplace_back(text);
      r.ttls.push_back(static_cast<std::uint32_t>(e.ttl));
    }
  }
}

}  // namespace

cares_result cares_resolve(std::uint16_t port, std::string_view name, bool ipv6, bool tcp,
                           std::chrono::milliseconds timeout) {
  static std::once_flag init;
  std::call_once(init, [] { ares_library_init(ARES_LIB_INIT_ALL); });

  cares_result result;
  ares_options opts{};
  // NOCHECKRESP: hand REFUSED and SERVFAIL back as such instead of trying the next server.
  opts.flags = ARES_FLAG_NORECURSE | ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP |
               (tcp ? ARES_FLAG_USEVC : 0);
  opts.tries = 1;
  opts.timeout = static_cast<int>(timeout.count());
  opts.lookups = const_cast<char*>("b");
  ares_channel channel = nullptr;
  const int optmask = ARES_OPT_FLAGS | ARES_OPT_TRIES | ARES_OPT_TIMEOUTMS | ARES_OPT_LOOKUPS;
  if (const int s = ares_init_options(&channel, &opts, optmask); s != ARES_SUCCESS) {
    result.status = s;
    result.status_text = ares_strerror(s);
    return result;
  }
  const std::string server = "127.0.0.1:" + std::to_string(port);
  ares_set_servers_ports_csv(channel, server.c_str());

  cares_query_state st{false, ipv6, &result};
  const std::string qname(name);
  ares_query(channel, qname.c_str(), ns_c_in, ipv6 ? ns_t_aaaa : ns_t_a, on_cares_reply, &st);

  // c-ares 1.18 has no event thread: drive its sockets with poll until the callback ran.
  const auto until = steady::now() + timeout + 1s;
  while (!st.done && steady::now() < until) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    const int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short ev = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) ev |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) ev |= POLLOUT;
      if (ev != 0) fds.push_back({socks[i], ev, 0});
    }
    timeval tv{};
    timeval max{0, 100'000};
    ares_timeout(channel, &max, &tv);
    const int wait_ms = static_cast<int>(tv.tv_sec * 1000 + tv.tv_usec / 1000);
    ::poll(fds.data(), fds.size(), std::max(wait_ms, 1));
    bool any = false;
    for (const auto& p : fds) {
      if (p.revents == 0) continue;
      any = true;
      ares_process_fd(channel, (p.revents & (POLLIN | POLLERR | POLLHUP)) ? p.fd : ARES_SOCKET_BAD,
                      (p.revents & POLLOUT) ? p.fd : ARES_SOCKET_BAD);
    }
    if (!any) ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
  }
  const bool finished = st.done;
  ares_destroy(channel);  // runs the callback with ARES_EDESTRUCTION if still pending
  if (!finished) result.status = ARES_ETIMEOUT;
  result.status_text = ares_strerror(result.status);
  return result;
}

}  // namespace loadns::test
