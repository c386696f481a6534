#include "server/metrics/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace loadns::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {
// Scrapers are few; more than this at once is a misbehaving client.
constexpr unsigned max_sessions = 32;
constexpr auto request_timeout = std::chrono::seconds(10);
// A scraper asks once per interval; a connection that asks this often, or idles this long
// between requests, is closed, so no client holds one of the few sessions indefinitely.
constexpr unsigned max_requests_per_connection = 100;
constexpr auto idle_timeout = std::chrono::seconds(5);

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::warn("metrics endpoint: {}", ex.what());
  }
}
}  // namespace

http_server::http_server(const tcp::endpoint& at, handlers h)
    : acceptor_(io_), handlers_(std::move(h)) {
  try {
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen();
  } catch (const boost::system::system_error& e) {
    throw std::system_error(e.code(), "cannot serve metrics on " + at.address().to_string() +
                                          " port " + std::to_string(at.port()));
  }
  asio::co_spawn(io_, accept_loop(), log_exception);
  thread_ = std::thread([this] { io_.run(); });
}

http_server::~http_server() {
  stop();
}

void http_server::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    io_.stop();
  });
  thread_.join();
}

asio::awaitable<void> http_server::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (!acceptor_.is_open()) co_return;
    if (ec) continue;
    if (open_ >= max_sessions) continue;  // the socket closes as it goes out of scope
    asio::co_spawn(io_, session(std::move(socket)), log_exception);
  }
}

asio::awaitable<void> http_server::session(tcp::socket socket) {
  ++open_;
  struct release {
    unsigned& n;
    ~release() { --n; }
  } guard{open_};

  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (unsigned served = 0;; ++served) {
    http::request<http::string_body> req;
    boost::system::error_code ec;
    // The first request has the whole request timeout; later ones must start and finish
    // within the idle timeout.
    stream.expires_after(served == 0 ? std::chrono::seconds(request_timeout)
                                     : std::chrono::seconds(idle_timeout));
    co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;

    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive() && served + 1 < max_requests_per_connection);
    res.set(http::field::server, "loadns");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    const auto target = std::string_view(req.target().data(), req.target().size());
    const auto path = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get) {
      res.result(http::status::method_not_allowed);
      res.body() = "GET only\n";
    } else if (path == "/metrics") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = handlers_.metrics();
    } else if (path == "/healthz") {
      res.result(http::status::ok);
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      bool ready = handlers_.ready();
      res.result(ready ? http::status::ok : http::status::service_unavailable);
      res.body() = ready ? "ready\n" : "not ready: no snapshot loaded from the database yet\n";
    } else {
      res.result(http::status::not_found);
      res.body() = "not found: try /metrics, /healthz, /readyz\n";
    }
    res.prepare_payload();
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace loadns::metrics
