#pragma once
// How a lookup ended, in the words an operator uses (rcode names, RFC 1035 4.1.1 and
// RFC 2308 for NODATA), and the exit code loadns-resolve returns for each.

#include <string_view>

namespace loadns::client {

/// The outcome of one lookup.
enum class lookup_status {
  ok,                  ///< NOERROR with at least one address
  nodata,              ///< NOERROR, no record of the type (RFC 2308 section 2.2)
  nxdomain,            ///< the name does not exist (rcode 3)
  servfail,            ///< rcode 2: the server could not answer (loadns: no snapshot yet)
  refused,             ///< rcode 5: the server is not authoritative for the name
  formerr,             ///< rcode 1
  notimp,              ///< rcode 4
  timeout,             ///< no answer before the deadline
  connection_refused,  ///< nothing listens at the server's port (ICMP port unreachable)
  bad_response,        ///< an answer that does not parse
  bad_name,            ///< the name cannot be queried
  error,               ///< anything else (out of memory, no servers configured, ...)
};

/// Maps a c-ares status (ARES_E*) as returned to an ares_query callback or by
/// ares_parse_*_reply. ARES_SUCCESS maps to ok.
lookup_status from_ares_status(int ares_status) noexcept;

/// One word per status: "NOERROR", "NODATA", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR",
/// "NOTIMP", "TIMEOUT", "CONNREFUSED", "BADRESP", "BADNAME", "ERROR".
std::string_view to_string(lookup_status status) noexcept;

/// loadns-resolve's exit status: 0 ok, 3 NXDOMAIN, 4 NODATA, 5 SERVFAIL, 6 REFUSED,
/// 7 timeout, 8 any other failure. (1 is a generic failure and 2 a usage error.)
int exit_code(lookup_status status) noexcept;

}  // namespace loadns::client
