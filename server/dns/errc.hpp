#pragma once
// Why a message could not be read or written. The packet path returns these instead of
// throwing; they convert to std::error_code for logs and tests.

#include <system_error>

namespace loadns::dns {

enum class errc : int {
  truncated = 1,            ///< a read ran past the end of the message
  label_too_long,           ///< a label longer than 63 octets (RFC 1035 2.3.4)
  name_too_long,            ///< a name longer than 255 octets (RFC 1035 2.3.4)
  bad_label_type,           ///< label type 0b01 or 0b10 (RFC 6891 5 retired extended labels)
  compression_in_question,  ///< a pointer in the question name
  bad_pointer,              ///< a compression pointer that does not point strictly backward
  too_many_pointers,        ///< more pointer hops than a real message needs
  bad_qdcount,              ///< QDCOUNT other than 1 (RFC 9619)
  trailing_data,            ///< bytes after the last record
  bad_opt,                  ///< an OPT record that is malformed or not owned by the root
  duplicate_opt,            ///< more than one OPT record (RFC 6891 6.1.1)
  bad_option,               ///< an EDNS option overrunning the OPT RDATA
  bad_cookie,               ///< a COOKIE option of invalid length (RFC 7873 5.2.2)
  no_space,                 ///< the output buffer is full
  bad_text,                 ///< presentation text that is not a valid name or value
};

/// The category of dns::errc; name "loadns.dns".
const std::error_category& dns_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), dns_category()};
}

}  // namespace loadns::dns

template <>
struct std::is_error_code_enum<loadns::dns::errc> : std::true_type {};
