#include "server/dns/question.hpp"

namespace loadns::dns {

bool read_question(reader& r, question& q) noexcept {
  std::size_t start = r.pos();
  q.lower_length = read_question_name(r, q.lower);
  if (q.lower_length == 0) {
    return false;
  }
  q.wire = r.message().subspan(start, q.lower_length);
  q.qtype = r.u16();
  q.qclass = r.u16();
  return r.ok();
}

}  // namespace loadns::dns
