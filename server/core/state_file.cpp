#include "server/core/state_file.hpp"

#include <bit>
#include <cstring>
#include <limits>

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

// Appends fields.
class writer {
 public:
  writer(std::string& out, std::int64_t now_ms) : out_(out), now_ms_(now_ms) {}

  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u64(std::uint64_t v) {
    for (unsigned i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u32(std::uint32_t v) {
    for (unsigned i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  void count(std::size_t n) { u32(static_cast<std::uint32_t>(n)); }
  // An age measured at now_ms, stored as the instant it started.
  void age(std::optional<std::chrono::milliseconds> a) {
    boolean(a.has_value());
    if (!a) return;
    const auto at = now_ms_ - a->count();
    i64(at);
  }

 private:
  std::string& out_;
  std::int64_t now_ms_;
};

void write_payload(writer& w, const source& src) {
  w.count(src.zones.size());
  for (const auto& z : src.zones) {
    w.str(z.name);
    w.str(z.mname);
    w.str(z.rname);
    for (const auto v : {z.serial, z.refresh, z.retry, z.expire, z.minimum, z.ttl}) w.u32(v);
    w.count(z.nameservers.size());
    for (const auto& ns : z.nameservers) w.str(ns);
  }
  w.count(src.services.size());
  for (const auto& s : src.services) {
    w.str(s.name);
    w.str(s.zone);
    w.u32(s.ttl);
    w.u32(s.records_per_response);
    w.boolean(s.accept_nonce);
    w.str(s.policy);
    w.i64(s.stale_after.count());
    w.i64(s.min_serving);
    w.str(s.on_empty);
    w.i64(s.slow_start.count());
  }
  w.count(src.backends.size());
  for (const auto& b : src.backends) {
    w.i64(b.id);
    w.str(b.service);
    w.str(b.name);
    w.str(b.address);
    w.str(b.second_address);
    w.boolean(b.enabled);
    w.boolean(b.draining);
    w.boolean(b.capacity.has_value());
    if (b.capacity) w.i64(*b.capacity);
    w.u64(std::bit_cast<std::uint64_t>(b.weight));
    w.i64(b.connections);
    w.age(b.report_age);
    w.boolean(b.agent_healthy.has_value());
    if (b.agent_healthy) w.boolean(*b.agent_healthy);
    w.str(b.agent_check);
    w.age(b.in_service);
  }
  w.count(src.records.size());
  for (const auto& r : src.records) {
    w.str(r.name);
    w.str(r.zone);
    w.str(r.type);
    w.u32(r.ttl);
    w.str(r.data);
    w.i64(r.id);
  }
}

// A bounds-checked cursor with a sticky error: after the first fault every read yields zero
// and `error` names the first fault.
class reader {
 public:
  reader(std::string_view in, std::int64_t now_ms) : in_(in), now_ms_(now_ms) {}

  std::uint8_t u8() {
    return fail_if(in_.empty(), "truncated") ? 0 : static_cast<unsigned char>(take(1)[0]);
  }
  std::uint32_t u32() {
    if (fail_if(in_.size() < 4, "truncated")) return 0;
    std::uint32_t v = 0;
    const auto b = take(4);
    for (unsigned i = 0; i < 4; ++i)
      v |= std::uint32_t{static_cast<unsigned char>(b[i])} << (8 * i);
    return v;
  }
  std::uint64_t u64() {
    if (fail_if(in_.size() < 8, "truncated")) return 0;
    std::uint64_t v = 0;
    const auto b = take(8);
    for (unsigned i = 0; i < 8; ++i)
      v |= std::uint64_t{static_cast<unsigned char>(b[i])} << (8 * i);
    return v;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  bool boolean() {
    const auto v = u8();
    fail_if(v > 1, "a boolean is neither 0 nor 1");
    return v == 1;
  }
  std::string str() {
    const auto n = u32();
    if (fail_if(n > in_.size(), "a string runs past the end")) return {};
    return std::string(take(n));
  }
  // A row count; each row takes at least `min_row` octets, so a huge count fails here.
  std::size_t count(std::size_t min_row) {
    const auto n = u32();
    return fail_if(n > in_.size() / min_row, "a row count runs past the end") ? 0 : n;
  }
  std::optional<std::chrono::milliseconds> age(bool never_negative) {
    if (!boolean()) return std::nullopt;
    const auto at = i64();
    std::int64_t ms = 0;
    if (__builtin_sub_overflow(now_ms_, at, &ms)) ms = at < 0 ? max_ms : -max_ms;
    if (never_negative && ms < 0) ms = 0;
    return std::chrono::milliseconds(ms);
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
  std::string_view take(std::size_t n) {
    const auto out = in_.substr(0, n);
    in_.remove_prefix(n);
    return out;
  }
  std::string_view in_;
  std::int64_t now_ms_;
};

void read_payload(reader& r, source& src) {
  src.zones.resize(r.count(4 * 3 + 4 * 6 + 4));
  for (auto& z : src.zones) {
    z.name = r.str();
    z.mname = r.str();
    z.rname = r.str();
    for (auto* v : {&z.serial, &z.refresh, &z.retry, &z.expire, &z.minimum, &z.ttl}) *v = r.u32();
    z.nameservers.resize(r.count(4));
    for (auto& ns : z.nameservers) ns = r.str();
  }
  src.services.resize(r.count(4 * 2 + 4 + 4 + 1 + 4 + 8 + 8 + 4 + 8));
  for (auto& s : src.services) {
    s.name = r.str();
    s.zone = r.str();
    s.ttl = r.u32();
    const auto answers = r.u32();
    r.fail_if(answers > 0xFFFF, "services.answers out of range");
    s.records_per_response = static_cast<std::uint16_t>(answers);
    s.accept_nonce = r.boolean();
    s.policy = r.str();
    s.stale_after = std::chrono::milliseconds(r.i64());
    s.min_serving = r.i64();
    s.on_empty = r.str();
    s.slow_start = std::chrono::milliseconds(r.i64());
  }
  src.backends.resize(r.count(8 + 4 * 4 + 3 + 8 + 8 + 1 + 1 + 4 + 1));
  for (auto& b : src.backends) {
    b.id = r.i64();
    b.service = r.str();
    b.name = r.str();
    b.address = r.str();
    b.second_address = r.str();
    b.enabled = r.boolean();
    b.draining = r.boolean();
    if (r.boolean()) b.capacity = r.i64();
    b.weight = std::bit_cast<double>(r.u64());
    b.connections = r.i64();
    b.report_age = r.age(true);
    if (r.boolean()) b.agent_healthy = r.boolean();
    b.agent_check = r.str();
    b.in_service = r.age(false);
  }
  src.records.resize(r.count(4 * 4 + 4 + 8));
  for (auto& rec : src.records) {
    rec.name = r.str();
    rec.zone = r.str();
    rec.type = r.str();
    rec.ttl = r.u32();
    rec.data = r.str();
    rec.id = r.i64();
  }
}

}  // namespace

std::string encode_state(const source& src, std::int64_t saved_at_ms) {
  std::string payload;
  writer p(payload, saved_at_ms);
  p.i64(saved_at_ms);
  write_payload(p, src);

  std::string out;
  out.reserve(header_size + payload.size() + checksum_size);
  out.append(magic);
  writer w(out, saved_at_ms);
  w.u32(state_file_version);
  w.u64(payload.size());
  out.append(payload);
  w.u64(fnv1a(out));
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
  out.saved_at_ms = r.i64();
  source src;
  read_payload(r, src);
  if (r.error.empty() && !r.at_end()) r.error = "octets after the last record";
  if (!r.error.empty()) {
    out.error = "malformed payload: " + r.error;
    return out;
  }
  out.src = std::move(src);
  return out;
}

}  // namespace loadns::core
