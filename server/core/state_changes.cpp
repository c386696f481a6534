#include "server/core/state_changes.hpp"

#include <string_view>
#include <unordered_map>

#include "server/core/backends.hpp"

namespace loadns::core {
namespace {

constexpr std::string_view family_names[] = {"IPv4", "IPv6"};

std::string_view name_of(backend_state s) {
  return backend_state_names[static_cast<std::size_t>(s)];
}

std::string describe(const service& svc, const backend& b) {
  return "backend " + backend_text(svc.name, b.name, b.address_text);
}

/// " (the agent's check)" for an unhealthy backend, else nothing.
std::string why(const backend& b) {
  if (b.state != backend_state::unhealthy) return {};
  return b.check.empty() ? std::string(": its agent gave no detail") : ": " + b.check;
}

std::string family_line(const service& svc, std::size_t f) {
  const family_candidates& c = svc.candidates[f];
  std::string line = "service ";
  line += svc.name;
  line += ' ';
  line += family_names[f];
  line += ": ";
  line += std::to_string(c.serving);
  line += " of ";
  line += std::to_string(svc.backends[f].size());
  line += " backends serving";
  if (c.mode == family_mode::serving) {
    line += ", answering from them again";
    return line;
  }
  line += ", fewer than min_serving ";
  line += std::to_string(svc.min_serving);
  line += ": on_empty ";
  line += on_empty_action_names[static_cast<std::size_t>(action_of(c.mode))];
  if (c.mode == family_mode::fail_open) {
    line += " (answering from all ";
    line += std::to_string(c.indices.size());
    line += " enabled)";
  } else if (svc.on_empty == on_empty_action::fail_open) {
    line += " (fail_open, but none is enabled)";
  }
  return line;
}

class collector {
 public:
  explicit collector(std::size_t limit) : limit_(limit) {}
  void add(std::string line) {
    if (lines_.size() < limit_) {
      lines_.push_back(std::move(line));
    } else {
      ++more_;
    }
  }
  std::vector<std::string> take() && {
    if (more_ > 0) lines_.push_back("... and " + std::to_string(more_) + " more changes");
    return std::move(lines_);
  }

 private:
  std::size_t limit_;
  std::size_t more_ = 0;
  std::vector<std::string> lines_;
};

}  // namespace

std::vector<std::string> describe_changes(const snapshot* before, const snapshot& after,
                                          std::size_t limit) {
  collector out(limit == 0 ? 1 : limit);
  std::unordered_map<std::string_view, const service*> earlier;
  if (before != nullptr) {
    for (const service& svc : before->services) earlier.emplace(svc.name, &svc);
  }
  for (const service& svc : after.services) {
    const auto match = earlier.find(svc.name);
    const service* was = match == earlier.end() ? nullptr : match->second;
    for (std::size_t f = 0; f < svc.backends.size(); ++f) {
      // Backends of a family come ordered by id in every snapshot: a merge walk.
      const auto& now = svc.backends[f];
      const std::vector<backend> none;
      const auto& old = was != nullptr ? was->backends[f] : none;
      auto p = old.begin();
      for (const backend& b : now) {
        while (p != old.end() && p->id < b.id) ++p;
        const bool known = p != old.end() && p->id == b.id;
        if (b.second) continue;  // a dual-stack host is told about once, at its first address
        if (known && p->state == b.state) continue;
        if (!known && b.state == backend_state::serving) continue;  // the usual: no line
        std::string line = describe(svc, b);
        line += ": ";
        line += known ? name_of(p->state) : std::string_view("new");
        line += " -> ";
        line += name_of(b.state);
        line += why(b);
        out.add(std::move(line));
      }
      const family_mode old_mode = was != nullptr ? was->candidates[f].mode : family_mode::serving;
      if (svc.candidates[f].mode != old_mode) out.add(family_line(svc, f));
    }
  }
  return std::move(out).take();
}

}  // namespace loadns::core
