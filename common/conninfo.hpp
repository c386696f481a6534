#pragma once
// libpq connection strings (key=value or postgresql:// URI, multi-host included): printing
// them without secrets, and adding the session settings the server depends on.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loadns {

/// `conninfo` as key=value pairs with the password replaced by "********", for logs and
/// error messages. A string libpq cannot parse prints as "<unparsable conninfo>" (it may
/// hold a password in a form we cannot find).
std::string redact_conninfo(std::string_view conninfo);

/// `conninfo` (either form) as a key=value string with `defaults` added for every key it does
/// not set. Throws std::invalid_argument with libpq's message when it does not parse.
std::string conninfo_with_defaults(
    std::string_view conninfo, const std::vector<std::pair<std::string, std::string>>& defaults);

}  // namespace loadns
