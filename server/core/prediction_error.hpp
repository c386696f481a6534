#pragma once
// How good least_load's prediction is. Between two reports of a backend the balancer predicts
// its connections as the last report plus the answers given since (load.hpp); the next report
// says what the count really was. Their difference, predicted minus reported, is one
// observation: positive when answered clients had not connected (yet) or earlier ones left,
// negative when clients arrived that this server did not send (another server's answers, or
// clients that kept an old address). Kept per service as a Prometheus histogram.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/core/snapshot.hpp"

namespace loadns::core {

class prediction_errors {
 public:
  /// Bucket upper bounds, in connections: signed, finer near zero.
  static constexpr std::array<double, 21> upper_bounds = {-1000, -500, -200, -100, -50, -20, -10,
                                                          -5,    -2,   -1,   0,    1,   2,   5,
                                                          10,    20,   50,   100,  200, 500, 1000};

  /// Observations of one service. buckets[i] counts errors <= upper_bounds[i] and above the
  /// bound before (not cumulative); `above` counts those above the last bound.
  struct histogram {
    std::array<std::uint64_t, upper_bounds.size()> buckets{};
    std::uint64_t above = 0;
    std::uint64_t count = 0;
    double sum = 0;
  };

  /// A report's time must move by more than this to count as a new report: the conversion of
  /// report ages to the server's clock (done per poll) jitters by the poll's round trip.
  static constexpr clock::duration min_report_step = std::chrono::milliseconds(100);

  /// One observation per backend that was serving in `previous` (null before the first
  /// snapshot) and has a newer report in `next`: what `previous` predicted for the moment of the
  /// new report, minus what the new report said. `now` is the time `next`'s report ages were
  /// measured against. Keeps a histogram for every service of `next` (empty ones too, so that the
  /// series exist) and forgets the others. Called by the refresher thread once per snapshot, before
  /// it is published; backends of a service come ordered by id, as the database sends them.
  void observe(const snapshot* previous, const snapshot& next, clock::time_point now);

  /// Adds one observation of `service`.
  void add(std::string_view service, double error);

  /// Every service's histogram, ordered by service name; safe from any thread.
  std::vector<std::pair<std::string, histogram>> read() const;

 private:
  void add_locked(histogram& h, double error) noexcept;

  mutable std::mutex mutex_;  // the refresher writes once per poll, the metrics page reads
  std::map<std::string, histogram, std::less<>> by_service_;
};

}  // namespace loadns::core
