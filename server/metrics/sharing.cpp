#include "server/metrics/sharing.hpp"

namespace loadns::metrics {

void render_sharing(exposition& e, const db::sharer_stats& s) {
  auto counter = [&](const char* name, const char* help, double v) {
    e.family(name, "counter", help);
    e.sample(name, v);
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    e.family(name, "gauge", help);
    e.sample(name, v);
  };
  gauge("loadns_share_up", "1 while answer counts are shared through the share database.",
        s.connected.load() ? 1 : 0);
  counter("loadns_share_flushes_total",
          "Writes of this server's answer counts (one statement each).",
          static_cast<double>(s.flushes.load()));
  counter("loadns_share_rows_written_total", "Backend rows written (one per backend answered).",
          static_cast<double>(s.rows_written.load()));
  counter("loadns_share_reads_total", "Reads of the other servers' answer counts.",
          static_cast<double>(s.reads.load()));
  counter("loadns_share_rows_read_total", "Other servers' rows read.",
          static_cast<double>(s.rows_read.load()));
  counter("loadns_share_answers_total",
          "Other servers' answers added to this server's predictions.",
          static_cast<double>(s.answers_shared.load()));
  counter("loadns_share_errors_total", "Failed connects, writes and reads of the share database.",
          static_cast<double>(s.errors.load()));
  gauge("loadns_share_flush_duration_seconds", "Duration of the last write.",
        static_cast<double>(s.last_flush_us.load()) / 1e6);
  gauge("loadns_share_read_duration_seconds", "Duration of the last read.",
        static_cast<double>(s.last_read_us.load()) / 1e6);
  gauge("loadns_share_servers", "Other servers heard from within the prediction's history.",
        static_cast<double>(s.servers.load()));
}

}  // namespace loadns::metrics
