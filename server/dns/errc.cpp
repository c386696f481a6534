#include "server/dns/errc.hpp"

namespace loadns::dns {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "loadns.dns"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::truncated:
        return "message truncated";
      case errc::label_too_long:
        return "label longer than 63 octets";
      case errc::name_too_long:
        return "name longer than 255 octets";
      case errc::bad_label_type:
        return "unsupported label type";
      case errc::compression_in_question:
        return "compression pointer in the question";
      case errc::bad_pointer:
        return "compression pointer not pointing backward";
      case errc::too_many_pointers:
        return "too many compression pointers";
      case errc::bad_qdcount:
        return "QDCOUNT is not 1";
      case errc::trailing_data:
        return "trailing data after the last record";
      case errc::bad_opt:
        return "malformed OPT record";
      case errc::duplicate_opt:
        return "more than one OPT record";
      case errc::bad_option:
        return "EDNS option overruns the OPT record";
      case errc::bad_cookie:
        return "COOKIE option of invalid length";
      case errc::no_space:
        return "output buffer full";
      case errc::bad_text:
        return "invalid presentation text";
    }
    return "unknown dns error";
  }
};

}  // namespace

const std::error_category& dns_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace loadns::dns
