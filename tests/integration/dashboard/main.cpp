// doctest's main for the dashboard test, which needs Debian's `prometheus`: without it the
// test reports itself skipped (exit 77, ctest's SKIP_RETURN_CODE) with the reason, instead of
// passing silently or failing on a machine that cannot install the package.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "tests/integration/dashboard/prometheus.hpp"

int main(int argc, char** argv) {
  if (!loadns::test::prometheus_process::find_binary()) {
    std::cout << "SKIPPED: the dashboard test needs Prometheus, and neither $LOADNS_PROMETHEUS "
                 "nor /usr/bin/prometheus is executable (Debian package `prometheus`, installed "
                 "by scripts/install-deps)\n";
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
