#pragma once
// Counts heap allocations, to prove that a path makes none: allocation_counter.cpp replaces
// operator new and delete (the plain, sized and nothrow forms) with malloc and free plus a
// count. An executable gets the replacement by linking the object library
// loadns_test_allocation_counter, which puts that one translation unit into it: the
// replacement operators must be defined exactly once per program.

#include <cstddef>

namespace loadns::test {

/// How many times operator new (either form) has been called in this process so far: compare
/// the figure before and after the calls under test.
std::size_t allocations() noexcept;

}  // namespace loadns::test
