#pragma once
// The Grafana dashboard (deploy/grafana/loadns.json) as the test sees it: every query
// expression of every panel, and the template variables, with Grafana's variables replaced the
// way Grafana itself would expand them for "All" before sending a query to Prometheus.

#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace loadns::test::dashboard {

/// One query of one panel.
struct expression {
  std::string panel;   ///< the panel's title
  std::string ref_id;  ///< the target's refId (A, B, ...)
  std::string expr;    ///< PromQL as written in the dashboard, with $variables
};

/// A templating variable whose values come from a query, `label_values(SELECTOR, LABEL)`.
struct variable {
  std::string name;
  std::string selector;  ///< what label_values() reads, as written
  std::string label;
};

struct parsed {
  std::string title;
  std::vector<expression> expressions;   ///< in panel order, rows' nested panels included
  std::vector<variable> variables;       ///< query variables only (the data source one has none)
  std::set<std::string> variable_names;  ///< every templating variable's name
};

/// Reads and parses the dashboard JSON. Throws std::runtime_error naming what is malformed:
/// a panel without a title, id or place in the grid, two panels with one id or on top of
/// each other, a target without expr, a query not sent to the ${datasource} variable, a
/// query variable that is not label_values(...).
parsed load(const std::filesystem::path& file);

/// `expr` as Grafana sends it with every multi-value variable at "All" (allValue ".*") and
/// `rate_interval` for $__rate_interval. Throws std::runtime_error for a variable the
/// dashboard does not define, so a typo cannot hide behind an unexpanded `$name`.
std::string expand(std::string_view expr, const std::set<std::string>& variables,
                   std::string_view rate_interval);

/// The loadns metric names `expr` mentions (identifiers starting with `loadns_`).
std::set<std::string> metric_names(std::string_view expr);

}  // namespace loadns::test::dashboard
