#pragma once
// The one way into Asio: g++ 12 with Boost 1.74 coroutines needs <utility> before Asio
// ("exchange is not a member of std"), so every file includes this instead of Asio directly.

#include <utility>

#include <boost/asio.hpp>
