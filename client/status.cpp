#include "client/status.hpp"

#include <ares.h>

namespace loadns::client {

lookup_status from_ares_status(int ares_status) noexcept {
  switch (ares_status) {
    case ARES_SUCCESS:
      return lookup_status::ok;
    // ares_query maps NOERROR with ANCOUNT 0 to ENODATA, and the parsers return it when
    // the answer section has no record of the asked type (a CNAME only, say).
    case ARES_ENODATA:
      return lookup_status::nodata;
    case ARES_ENOTFOUND:
      return lookup_status::nxdomain;
    case ARES_ESERVFAIL:
      return lookup_status::servfail;
    case ARES_EREFUSED:
      return lookup_status::refused;
    case ARES_EFORMERR:
      return lookup_status::formerr;
    case ARES_ENOTIMP:
      return lookup_status::notimp;
    // ECANCELLED: our own deadline cancelled the query (resolver.cpp).
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
      return lookup_status::timeout;
    case ARES_ECONNREFUSED:
      return lookup_status::connection_refused;
    case ARES_EBADRESP:
      return lookup_status::bad_response;
    case ARES_EBADNAME:
    case ARES_EBADSTR:
      return lookup_status::bad_name;
    default:
      return lookup_status::error;
  }
}

std::string_view to_string(lookup_status status) noexcept {
  switch (status) {
    case lookup_status::ok:
      return "NOERROR";
    case lookup_status::nodata:
      return "NODATA";
    case lookup_status::nxdomain:
      return "NXDOMAIN";
    case lookup_status::servfail:
      return "SERVFAIL";
    case lookup_status::refused:
      return "REFUSED";
    case lookup_status::formerr:
      return "FORMERR";
    case lookup_status::notimp:
      return "NOTIMP";
    case lookup_status::timeout:
      return "TIMEOUT";
    case lookup_status::connection_refused:
      return "CONNREFUSED";
    case lookup_status::bad_response:
      return "BADRESP";
    case lookup_status::bad_name:
      return "BADNAME";
    case lookup_status::error:
      return "ERROR";
  }
  return "ERROR";
}

int exit_code(lookup_status status) noexcept {
  switch (status) {
    case lookup_status::ok:
      return 0;
    case lookup_status::nxdomain:
      return 3;
    case lookup_status::nodata:
      return 4;
    case lookup_status::servfail:
      return 5;
    case lookup_status::refused:
      return 6;
    case lookup_status::timeout:
      return 7;
    default:
      return 8;
  }
}

}  // namespace loadns::client
