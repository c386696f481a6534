#pragma once
// The world of the health end-to-end tests and of bench/agent/bench_crash: a database with the
// zone and service, a real loadns-server on it, agents' command lines (each agent a login of
// its own), and clients arriving at a steady rate with fresh nonce names over UDP, each answer
// kept with its send time.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/agent/agent_harness.hpp"
#include "tests/support/dns_client.hpp"
#include "tests/support/server_process.hpp"

namespace loadns::test::agent {

using steady = std::chrono::steady_clock;

// One answer: when the query was sent and the address it named ("" for no answer).
struct answer {
  steady::time_point sent;
  std::string address;
};

// Clients arriving at `per_second`, each resolving a fresh nonce name over UDP.
class arrivals {
 public:
  arrivals(std::uint16_t port, int per_second) : port_(port), every_(1000ms / per_second) {
    thread_ = std::thread([this] { run(); });
  }
  ~arrivals() {
    stop_ = true;
    thread_.join();
  }
  arrivals(const arrivals&) = delete;
  arrivals& operator=(const arrivals&) = delete;

  [[nodiscard]] std::vector<answer> since(steady::time_point t) const {
    const std::lock_guard lock(mutex_);
    std::vector<answer> out;
    for (const auto& a : answers_) {
      if (a.sent >= t) out.push_back(a);
    }
    return out;
  }

 private:
  void run() {
    auto next = steady::now();
    for (int i = 0; !stop_; ++i) {
      loadns::test::query_spec q;
      q.id = static_cast<std::uint16_t>(i);
      q.name = "c" + std::to_string(i) + "-api.example.com";
      const auto sent = steady::now();
      const auto reply = loadns::test::udp_exchange(port_, loadns::test::make_query(q), 1s);
      std::string address;
      if (reply && reply->size() >= 16) {
        const auto h = loadns::test::parse_header(*reply);
        if (h && h->rcode == 0 && h->ancount >= 1) {
          // One A record per answer, no EDNS: its address is the message's last 4 bytes.
          const auto* a = reply->data() + reply->size() - 4;
          address = std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) +
                    "." + std::to_string(a[3]);
        }
      }
      {
        const std::lock_guard lock(mutex_);
        answers_.push_back({sent, address});
      }
      next += every_;
      std::this_thread::sleep_until(next);
    }
  }

  std::uint16_t port_;
  std::chrono::milliseconds every_;
  mutable std::mutex mutex_;
  std::vector<answer> answers_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct world {
  database db;
  std::unique_ptr<server_process> server;
  world() {
    db.pg.psql(
        "INSERT INTO loadns.records (name, type, data) VALUES ('ns1.example.com', 'A', "
        "'192.0.2.53');");
    server_options o;
    o.binary = LOADNS_SERVER_BINARY;
    o.conninfo = db.pg.conninfo("loadns", "server");
    o.poll_interval = "1s";
    server = std::make_unique<server_process>(o);
  }
  [[nodiscard]] std::vector<std::string> agent(const std::string& name, const std::string& ip,
                                               std::uint16_t port,
                                               std::vector<std::string> extra = {}) const {
    std::vector<std::string> a{"--db",       db.pg.conninfo("loadns", db.login_for(name)),
                               "--service",  "api.example.com",
                               "--address",  ip,
                               "--port",     std::to_string(port),
                               "--name",     name,
                               "--interval", "2s"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Every answer of the last second names one of `want` and all of them appear.
  bool serving_all(const arrivals& clients, const std::vector<std::string>& want) const {
    const auto recent = clients.since(steady::now() - 1500ms);
    std::map<std::string, int> seen;
    for (const auto& a : recent) ++seen[a.address];
    for (const auto& w : want) {
      if (seen[w] == 0) return false;
    }
    return true;
  }
};

inline std::string names_of(const std::vector<answer>& answers, const std::string& address,
                            steady::time_point t0) {
  std::string out;
  for (const auto& a : answers) {
    if (a.address == address) {
      out += std::to_string(
                 std::chrono::duration_cast<std::chrono::milliseconds>(a.sent - t0).count()) +
             " ms; ";
    }
  }
  return out;
}

/// "N of M clients were sent to ADDRESS", and when N > 0 ", the last one X ms after EVENT":
/// how many answers after t0 still named a backend that failed at t0 (the event).
inline std::string sent_to(const std::vector<answer>& answers, const std::string& address,
                           steady::time_point t0, const std::string& event) {
  int count = 0;
  steady::time_point last = t0;
  for (const auto& a : answers) {
    if (a.address == address) {
      ++count;
      last = a.sent;
    }
  }
  std::string out = std::to_string(count) + " of " + std::to_string(answers.size()) +
                    " clients were sent to " + address;
  if (count > 0) {
    out +=
        ", the last one " +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(last - t0).count()) +
        " ms after " + event;
  }
  return out;
}

}  // namespace loadns::test::agent
