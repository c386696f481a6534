#include "server/db/load_source.hpp"

#include <pqxx/pqxx>
#include <stdexcept>

namespace loadns::db {
namespace {

// Prepared once per connection (libpqxx prepares lazily on first use and re-prepares after
// a reconnect). Ordered so that snapshots are deterministic.
constexpr const char* zones_sql =
    "SELECT name, mname, rname, serial, refresh, retry, expire, minimum, ttl,"
    " array_to_string(nameservers, ' ')"
    " FROM loadns.zones ORDER BY name";
constexpr const char* services_sql =
    "SELECT name, zone, ttl, answers, accept_nonce, policy,"
    " (extract(epoch FROM stale_after) * 1000)::bigint, min_serving, on_empty,"
    " (extract(epoch FROM slow_start) * 1000)::bigint"
    " FROM loadns.services ORDER BY name";
// The database's now() is the transaction's start: all ages are from one instant.
constexpr const char* backends_sql =
    "SELECT id, service, name, host(address), enabled, draining OR agent_draining,"
    " coalesce(capacity, agent_capacity), weight, connections,"
    " CASE WHEN reported_at IS NOT NULL"
    "  THEN greatest(0, (extract(epoch FROM now() - reported_at) * 1000)::bigint) END,"
    " agent_healthy, agent_check,"
    " (extract(epoch FROM now() - serving_since) * 1000)::bigint,"
    " host(second_address)"
    " FROM loadns.backends ORDER BY service, id";
constexpr const char* records_sql =
    "SELECT name, zone, type, ttl, data, id FROM loadns.records ORDER BY name, type, id";

std::uint32_t u32(const pqxx::field& f) {
  const auto v = f.as<long long>();
  if (v < 0 || v > 0xFFFFFFFFLL) {
    throw std::range_error(std::string("column ") + f.name() + " out of range: " + f.c_str());
  }
  return static_cast<std::uint32_t>(v);
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto j = s.find(' ', i);
    const auto end = j == std::string::npos ? s.size() : j;
    if (end > i) out.emplace_back(s.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

void prepare(pqxx::connection& conn) {
  conn.prepare("loadns_zones", zones_sql);
  conn.prepare("loadns_services", services_sql);
  conn.prepare("loadns_backends", backends_sql);
  conn.prepare("loadns_records", records_sql);
}

}  // namespace

loaded_source load_source_at(pqxx::connection& conn) {
  prepare(conn);
  loaded_source out;
  auto& src = out.src;
  const auto before = core::clock::now();
  // The constructor sends BEGIN, and now() is the time the server started that transaction:
  // the midpoint of the BEGIN round trip is the matching instant on our clock.
  pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx(
      conn);
  const auto after = core::clock::now();
  out.db_now = before + (after - before) / 2;
  const auto zones = tx.exec_prepared("loadns_zones");

  src.zones.reserve(zones.size());
  for (const auto& r : zones) {
    core::zone_row z;
    z.name = r[0].as<std::string>();
    z.mname = r[1].as<std::string>();
    z.rname = r[2].as<std::string>();
    z.serial = u32(r[3]);
    z.refresh = u32(r[4]);
    z.retry = u32(r[5]);
    z.expire = u32(r[6]);
    z.minimum = u32(r[7]);
    z.ttl = u32(r[8]);
    z.nameservers = split_words(r[9].as<std::string>());
    src.zones.push_back(std::move(z));
  }

  const auto services = tx.exec_prepared("loadns_services");
  src.services.reserve(services.size());
  for (const auto& r : services) {
    core::service_row s;
    s.name = r[0].as<std::string>();
    s.zone = r[1].as<std::string>();
    s.ttl = u32(r[2]);
    const auto answers = r[3].as<long long>();
    if (answers < 1 || answers > 0xFFFF) throw std::range_error("services.answers out of range");
    s.records_per_response = static_cast<std::uint16_t>(answers);
    s.accept_nonce = r[4].as<bool>();
    s.policy = r[5].as<std::string>();
    s.stale_after = std::chrono::milliseconds(r[6].as<long long>());
    s.min_serving = r[7].as<std::int64_t>();
    s.on_empty = r[8].as<std::string>();
    s.slow_start = std::chrono::milliseconds(r[9].as<long long>());
    src.services.push_back(std::move(s));
  }

  const auto backends = tx.exec_prepared("loadns_backends");
  src.backends.reserve(backends.size());
  for (const auto& r : backends) {
    core::backend_row b;
    b.id = r[0].as<std::int64_t>();
    b.service = r[1].as<std::string>();
    b.name = r[2].as<std::string>();
    b.address = r[3].as<std::string>();
    b.enabled = r[4].as<bool>();
    b.draining = r[5].as<bool>();
    if (!r[6].is_null()) b.capacity = r[6].as<std::int64_t>();
    b.weight = r[7].as<double>();
    b.connections = r[8].as<std::int64_t>();
    if (!r[9].is_null()) b.report_age = std::chrono::milliseconds(r[9].as<long long>());
    if (!r[10].is_null()) b.agent_healthy = r[10].as<bool>();
    if (!r[11].is_null()) b.agent_check = r[11].as<std::string>();
    if (!r[12].is_null()) b.in_service = std::chrono::milliseconds(r[12].as<long long>());
    if (!r[13].is_null()) b.second_address = r[13].as<std::string>();
    src.backends.push_back(std::move(b));
  }

  const auto records = tx.exec_prepared("loadns_records");
  src.records.reserve(records.size());
  for (const auto& r : records) {
    core::record_row rec;
    rec.name = r[0].as<std::string>();
    rec.zone = r[1].as<std::string>();
    rec.type = r[2].as<std::string>();
    rec.ttl = u32(r[3]);
    rec.data = r[4].as<std::string>();
    rec.id = r[5].as<std::int64_t>();
    src.records.push_back(std::move(rec));
  }
  tx.commit();
  return out;
}

core::source load_source(pqxx::connection& conn) {
  return load_source_at(conn).src;
}

}  // namespace loadns::db
