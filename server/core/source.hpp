#pragma once
// The rows a snapshot is built from, as the database holds them. db/ fills these from
// PostgreSQL; tests build them by hand. Nothing here is validated yet: see snapshot_builder.
// A new field also goes into the state file (fields() in state_file.cpp, with a new
// state_file_version).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loadns::core {

struct zone_row {
  std::string name;  ///< apex, lower case, no trailing dot
  std::string mname;
  std::string rname;
  std::uint32_t serial = 0;
  std::uint32_t refresh = 0;
  std::uint32_t retry = 0;
  std::uint32_t expire = 0;
  std::uint32_t minimum = 0;
  std::uint32_t ttl = 0;  ///< TTL of the SOA and NS records
  std::vector<std::string> nameservers;

  friend bool operator==(const zone_row&, const zone_row&) = default;
};

struct service_row {
  std::string name;  ///< FQDN, lower case, no trailing dot
  std::string zone;  ///< the enclosing zone's name
  std::uint32_t ttl = 60;
  std::uint16_t records_per_response = 1;  ///< the answers column
  bool accept_nonce = true;
  std::string policy = "least_load";
  std::chrono::milliseconds stale_after{10'000};
  std::int64_t min_serving = 1;
  std::string on_empty = "fail_open";
  std::chrono::milliseconds slow_start{0};

  friend bool operator==(const service_row&, const service_row&) = default;
};

struct backend_row {
  std::int64_t id = 0;
  std::string service;
  std::string name;
  std::string address;  ///< presentation form of an inet, v4 or v6
  /// A dual-stack host's address of the other family (backends.second_address); empty: none.
  std::string second_address;
  bool enabled = true;
  bool draining = false;
  std::optional<std::int64_t> capacity;
  double weight = 1.0;
  std::int64_t connections = 0;
  /// now() - reported_at on the database's clock, read in the same poll; empty when no agent
  /// has ever reported (an operator-inserted backend).
  std::optional<std::chrono::milliseconds> report_age;
  std::optional<bool> agent_healthy;  ///< NULL: no agent said
  std::string agent_check;            ///< the agent's words for a failed check; NULL = empty
  /// now() - serving_since on the database's clock, read in the same poll (negative when
  /// serving_since is ahead of now()); empty when NULL.
  std::optional<std::chrono::milliseconds> in_service;

  friend bool operator==(const backend_row&, const backend_row&) = default;
};

struct record_row {
  std::string name;  ///< owner, lower case, no trailing dot
  std::string zone;
  std::string type;  ///< A, AAAA, CNAME, TXT, MX
  std::uint32_t ttl = 0;
  std::string data;     ///< presentation form
  std::int64_t id = 0;  ///< records.id: older rows (lower ids) win a conflict

  friend bool operator==(const record_row&, const record_row&) = default;
};

/// Everything one poll read, in one read-only transaction.
struct source {
  std::vector<zone_row> zones;
  std::vector<service_row> services;
  std::vector<backend_row> backends;
  std::vector<record_row> records;

  friend bool operator==(const source&, const source&) = default;
};

}  // namespace loadns::core
