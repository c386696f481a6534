#include "tests/integration/dashboard/dashboard.hpp"

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace loadns::test::dashboard {

namespace {

using json = nlohmann::json;

std::string string_field(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

struct box {
  std::string title;
  long x, y, w, h;
};

/// Panels nest one level inside collapsed rows ("panels" of a row); newer Grafana keeps open
/// rows' panels at the top level. Both are walked. Checks what Grafana would otherwise show
/// wrong without an error: duplicate panel ids or refIds, panels outside the 24-column grid
/// or on top of each other, a query not sent to the dashboard's data source variable.
void collect(const json& panels, parsed& out, std::set<long>& ids, std::vector<box>& boxes) {
  if (!panels.is_array()) return;
  for (const auto& p : panels) {
    const std::string title = string_field(p, "title");
    if (!p.contains("id") || !p.at("id").is_number_integer())
      throw std::runtime_error("panel '" + title + "' has no integer id");
    if (!ids.insert(p.at("id").get<long>()).second)
      throw std::runtime_error("panel id " + p.at("id").dump() + " is used twice");
    const json grid = p.value("gridPos", json::object());
    const box b{title, grid.value("x", -1L), grid.value("y", -1L), grid.value("w", 0L),
                grid.value("h", 0L)};
    if (b.x < 0 || b.y < 0 || b.w < 1 || b.h < 1 || b.x + b.w > 24)
      throw std::runtime_error("panel '" + title + "' has no place in the 24-column grid");
    for (const box& o : boxes) {
      if (b.x < o.x + o.w && o.x < b.x + b.w && b.y < o.y + o.h && o.y < b.y + b.h)
        throw std::runtime_error("panels '" + title + "' and '" + o.title + "' overlap");
    }
    boxes.push_back(b);
    if (const auto nested = p.find("panels"); nested != p.end()) {
      std::vector<box> inside;  // a collapsed row's panels have places of their own
      collect(*nested, out, ids, inside);
    }
    const auto targets = p.find("targets");
    if (targets == p.end()) continue;
    if (title.empty()) throw std::runtime_error("a panel with queries has no title");
    std::set<std::string> refs;
    for (const auto& t : *targets) {
      const std::string expr = string_field(t, "expr");
      if (expr.empty()) throw std::runtime_error("panel '" + title + "' has a target without expr");
      const std::string ref = string_field(t, "refId");
      if (!refs.insert(ref).second)
        throw std::runtime_error("panel '" + title + "' uses refId '" + ref + "' twice");
      for (const json* holder : {&p, &t}) {
        const json ds = holder->value("datasource", json::object());
        if (string_field(ds, "uid") != "${datasource}")
          throw std::runtime_error("panel '" + title +
                                   "': a query's data source is not ${datasource}");
      }
      out.expressions.push_back({title, ref, expr});
    }
  }
}

/// A query variable's query is a string, or (Grafana 10) an object holding it in "query".
std::string variable_query(const json& v) {
  const auto q = v.find("query");
  if (q == v.end()) return {};
  if (q->is_string()) return q->get<std::string>();
  if (q->is_object()) return string_field(*q, "query");
  return {};
}

}  // namespace

parsed load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  // Throws json::parse_error with the offset of the first syntax error.
  const json root = json::parse(in);
  parsed out;
  out.title = string_field(root, "title");
  std::set<long> ids;
  std::vector<box> boxes;
  collect(root.value("panels", json::array()), out, ids, boxes);

  const std::regex label_values(
      R"(^\s*label_values\(\s*(.+)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$)");
  const auto templating = root.find("templating");
  if (templating != root.end()) {
    for (const auto& v : templating->value("list", json::array())) {
      const std::string name = string_field(v, "name");
      out.variable_names.insert(name);
      if (string_field(v, "type") != "query") continue;
      const std::string query = variable_query(v);
      std::smatch m;
      if (!std::regex_match(query, m, label_values))
        throw std::runtime_error("variable '" + name +
                                 "': query is not label_values(...): " + query);
      out.variables.push_back({name, m[1].str(), m[2].str()});
    }
  }
  return out;
}

std::string expand(std::string_view expr, const std::set<std::string>& variables,
                   std::string_view rate_interval) {
  // Grafana's global variables that a Prometheus query may use.
  auto global = [&](std::string_view name) -> std::string {
    if (name == "__rate_interval") return std::string(rate_interval);
    if (name == "__interval") return "1s";
    if (name == "__range") return "1m";
    throw std::runtime_error("unknown Grafana variable $" + std::string(name) + " in " +
                             std::string(expr));
  };
  std::string out;
  for (std::size_t i = 0; i < expr.size();) {
    if (expr[i] != '$') {
      out += expr[i++];
      continue;
    }
    // $name or ${name}
    std::size_t start = i + 1;
    const bool braced = start < expr.size() && expr[start] == '{';
    if (braced) ++start;
    std::size_t end = start;
    while (end < expr.size() &&
           (std::isalnum(static_cast<unsigned char>(expr[end])) != 0 || expr[end] == '_'))
      ++end;
    const std::string name(expr.substr(start, end - start));
    if (braced) {
      if (end >= expr.size() || expr[end] != '}')
        throw std::runtime_error("unterminated ${ in " + std::string(expr));
      ++end;
    }
    if (name.empty()) throw std::runtime_error("a lone $ in " + std::string(expr));
    if (name.rfind("__", 0) == 0) {
      out += global(name);
    } else if (variables.count(name) != 0) {
      out += ".*";  // "All" with allValue ".*"; every use is a =~ matcher
    } else {
      throw std::runtime_error("variable $" + name +
                               " is not defined by the dashboard: " + std::string(expr));
    }
    i = end;
  }
  return out;
}

std::set<std::string> metric_names(std::string_view expr) {
  static const std::regex name(R"(\bloadns_[A-Za-z0-9_]+)");
  std::set<std::string> out;
  const std::string s(expr);
  for (auto it = std::sregex_iterator(s.begin(), s.end(), name); it != std::sregex_iterator(); ++it)
    out.insert(it->str());
  return out;
}

}  // namespace loadns::test::dashboard
