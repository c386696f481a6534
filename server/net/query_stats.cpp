#include "server/net/query_stats.hpp"

namespace loadns::net {

std::size_t rcode_slot(unsigned rcode) noexcept {
  if (rcode <= 5) return rcode;
  if (rcode == 16) return 6;  // BADVERS (RFC 6891): the extended rcode, not the header's 4 bits
  if (rcode == 23) return 7;  // BADCOOKIE (RFC 7873 8)
  return 8;
}

std::size_t qtype_slot(unsigned qtype) noexcept {
  switch (qtype) {
    case 1:
      return 0;  // A
    case 28:
      return 1;  // AAAA
    case 6:
      return 2;  // SOA
    case 2:
      return 3;  // NS
    case 5:
      return 4;  // CNAME
    case 15:
      return 5;  // MX
    case 16:
      return 6;  // TXT
    case 255:
      return 7;  // ANY
    case 0:
      return 8;  // no readable question
    default:
      return 9;
  }
}

}  // namespace loadns::net
