#include "server/core/state_file.hpp"

#include <bit>
#include <concepts>
#include <cstring>
#include <limits>
#include <type_traits>

namespace loadns::core {
namespace {

constexpr std::string_view magic = "LOADNSSF";
constexpr std::size_t header_size = 8 + 4 + 8;
constexpr std::size_t checksum_size = 8;
// Ages beyond a century are clamped there (the builder clamps times in service further).
constexpr std::int64_t max_ms = 100LL * 365 * 24 * 3600 * 1000;

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The payload's fields in file order, listed once for every direction: `io` is the writer
// (the row is const), the reader (the row is filled in) or the sizer (a row's smallest
// encoding). Each field's type picks its encoding; a vector is a u32 count and its rows.
template <class R, class T>
concept row_of = std::same_as<std::remove_const_t<R>, T>;

template <class Io, row_of<zone_row> Z>
void fields(Io& io, Z& z) {
  io(z.name, z.mname, z.rname, z.serial, z.refresh, z.retry, z.expire, z.minimum, z.ttl,
     z.nameservers);
}

template <class Io, row_of<service_row> S>
void fields(Io& io, S& s) {
  io(s.name, s.zone, s.ttl, s.records_per_response, s.accept_nonce, s.policy, s.stale_after,
     s.min_serving, s.on_empty, s.slow_start);
}

template <class Io, row_of<backend_row> B>
void fields(Io& io, B& b) {
  io(b.id, b.service, b.name, b.address, b.second_address, b.enabled, b.draining, b.capacity,
     b.weight, b.connections);
  io.age(b.report_age, /*never_negative=*/true);
  io(b.agent_healthy, b.agent_check);
  io.age(b.in_service, /*never_negative=*/false);
}

template <class Io, row_of<record_row> R>
void fields(Io& io, R& r) {
  io(r.name, r.zone, r.type, r.ttl, r.data, r.id);
}

template <class Io, row_of<source> S>
void fields(Io& io, S& src) {
  io(src.zones, src.services, src.backends, src.records);
}

// The octets of a row's shortest encoding (all strings and vectors empty, all optionals
// absent), so that the reader refuses a count that the remaining octets cannot hold.
class sizer {
 public:
  template <class... Ts>
  void operator()(const Ts&... v) {
    (add(v), ...);
  }
  void age(const std::optional<std::chrono::milliseconds>&, bool) { n += 1; }

  std::size_t n = 0;

 private:
  void add(const std::string&) { n += 4; }
  void add(std::uint16_t) { n += 4; }
  void add(std::uint32_t) { n += 4; }
  void add(std::int64_t) { n += 8; }
  void add(bool) { n += 1; }
  void add(double) { n += 8; }
  void add(std::chrono::milliseconds) { n += 8; }
  template <class T>
  void add(const std::optional<T>&) {
    n += 1;
  }
  template <class T>
  void add(const std::vector<T>&) {
    n += 4;
  }
};

template <class T>
std::size_t min_size() {
  if constexpr (std::same_as<T, std::string>) {
    return 4;
  } else {
    const T empty{};
    sizer s;
    fields(s, empty);
    return s.n;
  }
}

// Appends fields.
class writer {
 public:
  writer(std::string& out, std::int64_t now_ms) : out_(out), now_ms_(now_ms) {}

  template <class... Ts>
  void operator()(const Ts&... v) {
    (put(v), ...);
  }
  // An age measured at now_ms, stored as the instant it started.
  void age(const std::optional<std::chrono::milliseconds>& a, bool /*never_negative*/) {
    put(a.has_value());
    if (a) put(std::int64_t{now_ms_ - a->count()});
  }

 private:
  void le(std::uint64_t v, unsigned octets) {
    for (unsigned i = 0; i < octets; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void put(std::uint8_t v) { le(v, 1); }
  void put(std::uint32_t v) { le(v, 4); }
  void put(std::uint64_t v) { le(v, 8); }
  void put(std::uint16_t v) { put(std::uint32_t{v}); }
  void put(std::int64_t v) { put(static_cast<std::uint64_t>(v)); }
  void put(bool v) { put(static_cast<std::uint8_t>(v ? 1 : 0)); }
  void put(double v) { put(std::bit_cast<std::uint64_t>(v)); }
  void put(std::chrono::milliseconds v) { put(std::int64_t{v.count()}); }
  void put(const std::string& s) {
    put(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  template <class T>
  void put(const std::optional<T>& v) {
    put(v.has_value());
    if (v) put(*v);
  }
  template <class T>
  void put(const std::vector<T>& rows) {
    put(static_cast<std::uint32_t>(rows.size()));
    for (const auto& r : rows) put(r);
  }
  template <class T>
  requires(!std::is_arithmetic_v<T>) void put(const T& r) { fields(*this, r); }

  std::string& out_;
  std::int64_t now_ms_;
};

// A bounds-checked cursor with a sticky error: after the first fault every read yields zero
// and `error` names the first fault.
class reader {
 public:
  reader(std::string_view in, std::int64_t now_ms) : in_(in), now_ms_(now_ms) {}

  template <class... Ts>
  void operator()(Ts&... v) {
    (get(v), ...);
  }
  void age(std::optional<std::chrono::milliseconds>& a, bool never_negative) {
    if (!boolean()) return;
    const auto at = i64();
    std::int64_t ms = 0;
    if (__builtin_sub_overflow(now_ms_, at, &ms)) ms = at < 0 ? max_ms : -max_ms;
    if (never_negative && ms < 0) ms = 0;
    a = std::chrono::milliseconds(ms);
  }

  std::uint8_t u8() { return static_cast<std::uint8_t>(le(1)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
  std::uint64_t u64() { return le(8); }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  bool boolean() {
    const auto v = u8();
    fail_if(v > 1, "a boolean is neither 0 nor 1");
    return v == 1;
  }

  bool fail_if(bool bad, const char* why) {
    if (bad && error.empty()) {
      error = why;
      in_ = {};
    }
    return bad || !error.empty();
  }
  bool at_end() const { return in_.empty(); }

  std::string error;

 private:
  void get(std::uint32_t& v) { v = u32(); }
  void get(std::uint16_t& v) {
    const auto wide = u32();
    fail_if(wide > 0xFFFF, "a 16-bit field out of range");
    v = static_cast<std::uint16_t>(wide);
  }
  void get(std::int64_t& v) { v = i64(); }
  void get(bool& v) { v = boolean(); }
  void get(double& v) { v = std::bit_cast<double>(u64()); }
  void get(std::chrono::milliseconds& v) { v = std::chrono::milliseconds(i64()); }
  void get(std::string& s) {
    const auto n = u32();
    if (fail_if(n > in_.size(), "a string runs past the end")) return;
    s = std::string(take(n));
  }
  template <class T>
  void get(std::optional<T>& v) {
    if (boolean()) get(v.emplace());
  }
  // A row count; each row takes at least min_size<T>() octets, so a huge count fails here.
  template <class T>
  void get(std::vector<T>& rows) {
    const auto n = u32();
    rows.resize(fail_if(n > in_.size() / min_size<T>(), "a row count runs past the end") ? 0 : n);
    for (auto& r : rows) get(r);
  }
  template <class T>
  requires(!std::is_arithmetic_v<T>) void get(T& r) { fields(*this, r); }

  std::uint64_t le(unsigned octets) {
    if (fail_if(in_.size() < octets, "truncated")) return 0;
    std::uint64_t v = 0;
    const auto b = take(octets);
    for (unsigned i = 0; i < octets; ++i)
      v |= std::uint64_t{static_cast<unsigned char>(b[i])} << (8 * i);
    return v;
  }
  std::string_view take(std::size_t n) {
    const auto out = in_.substr(0, n);
    in_.remove_prefix(n);
    return out;
  }
  std::string_view in_;
  std::int64_t now_ms_;
};

}  // namespace

std::string encode_state(const source& src, std::int64_t saved_at_ms) {
  std::string payload;
  writer p(payload, saved_at_ms);
  p(saved_at_ms, src);

  std::string out;
  out.reserve(header_size + payload.size() + checksum_size);
  out.append(magic);
  writer w(out, saved_at_ms);
  w(state_file_version, std::uint64_t{payload.size()});
  out.append(payload);
  w(fnv1a(out));
  return out;
}

bool same_state(const source& a, std::int64_t a_ms, const source& b, std::int64_t b_ms,
                std::int64_t tolerance_ms) {
  if (a.zones != b.zones || a.services != b.services || a.records != b.records ||
      a.backends.size() != b.backends.size()) {
    return false;
  }
  // Two ages name the same instant when both are absent, or both present and close.
  const auto close = [&](const std::optional<std::chrono::milliseconds>& x,
                         const std::optional<std::chrono::milliseconds>& y) {
    if (!x || !y) return !x && !y;
    const auto d = (a_ms - x->count()) - (b_ms - y->count());
    return d <= tolerance_ms && d >= -tolerance_ms;
  };
  for (std::size_t i = 0; i < a.backends.size(); ++i) {
    auto x = a.backends[i];
    auto y = b.backends[i];
    if (!close(x.report_age, y.report_age) || !close(x.in_service, y.in_service)) return false;
    x.report_age = y.report_age;
    x.in_service = y.in_service;
    if (x != y) return false;
  }
  return true;
}

decoded_state decode_state(std::string_view bytes, std::int64_t now_ms) {
  decoded_state out;
  if (bytes.size() < magic.size() || bytes.substr(0, magic.size()) != magic) {
    out.error = "not a loadns state file (no LOADNSSF magic)";
    return out;
  }
  if (bytes.size() < header_size + checksum_size) {
    out.error = "truncated (" + std::to_string(bytes.size()) + " octets)";
    return out;
  }
  reader head(bytes.substr(magic.size(), header_size - magic.size()), now_ms);
  const auto version = head.u32();
  const auto length = head.u64();
  if (version != state_file_version) {
    out.error = "format version " + std::to_string(version) + ", this server reads version " +
                std::to_string(state_file_version);
    return out;
  }
  if (length != bytes.size() - header_size - checksum_size) {
    out.error = "truncated or padded: " + std::to_string(bytes.size()) +
                " octets, the header says " +
                (length > std::numeric_limits<std::uint64_t>::max() - header_size - checksum_size
                     ? std::string("more")
                     : std::to_string(length + header_size + checksum_size));
    return out;
  }
  const auto body = bytes.substr(0, bytes.size() - checksum_size);
  reader tail(bytes.substr(body.size()), now_ms);
  if (tail.u64() != fnv1a(body)) {
    out.error = "checksum mismatch (damaged)";
    return out;
  }
  reader r(bytes.substr(header_size, length), now_ms);
  source src;
  r(out.saved_at_ms, src);
  if (r.error.empty() && !r.at_end()) r.error = "octets after the last record";
  if (!r.error.empty()) {
    out.error = "malformed payload: " + r.error;
    return out;
  }
  out.src = std::move(src);
  return out;
}

}  // namespace loadns::core
