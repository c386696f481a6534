// The one doctest main every test executable links (target loadns_doctest_main): Debian's
// doctest 2.4 has no doctest_with_main target.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
