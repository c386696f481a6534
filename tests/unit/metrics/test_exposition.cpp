#include <doctest/doctest.h>

#include "server/metrics/exposition.hpp"

using namespace loadns::metrics;

TEST_CASE("exposition: families, labels, exact integers") {
  exposition e;
  e.family("loadns_queries_total", "counter", "DNS queries answered.");
  e.sample("loadns_queries_total", {{"transport", "udp"}, {"rcode", "NOERROR"}}, 12345678901.0);
  e.sample("loadns_ready", 1);
  e.sample("loadns_age_seconds", 0.25);
  CHECK(e.text() ==
        "# HELP loadns_queries_total DNS queries answered.\n"
        "# TYPE loadns_queries_total counter\n"
        "loadns_queries_total{transport=\"udp\",rcode=\"NOERROR\"} 12345678901\n"
        "loadns_ready 1\n"
        "loadns_age_seconds 0.25\n");
}

TEST_CASE("exposition: label values are escaped") {
  CHECK(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  exposition e;
  e.sample("m", {{"backend", "we\"ird"}}, 1);
  CHECK(e.text() == "m{backend=\"we\\\"ird\"} 1\n");
}
