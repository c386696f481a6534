// Agent logins by TLS client certificate, configured as README "Agent logins" shows: a
// pg_ident.conf map from the host's certificate name to its login, a hostssl ... cert
// map=... line for members of loadns_agent, the agent connecting with sslmode=verify-full.
// The host's certificate is its identity: it logs in as its own login only, and report()
// sees that login.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/pg_cluster.hpp"

using loadns::test::pg_cluster;
using loadns::test::run_process;

namespace {

void run(const std::vector<std::string>& argv) {
  const auto r = run_process(argv);
  REQUIRE_MESSAGE(r.status == 0, argv[0], " failed: ", r.err);
}

/// A CA, a server certificate for localhost and 127.0.0.1, and client certificates whose
/// common names are host names, in `dir`.
void make_certificates(const std::filesystem::path& dir) {
  const auto p = [&](const char* f) { return (dir / f).string(); };
  run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
       "/CN=loadns test CA", "-keyout", p("ca.key"), "-out", p("ca.crt")});
  std::ofstream(p("san.ext")) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  for (const std::string name : {"server", "web1", "web2"}) {
    const std::string cn = name == "server" ? "localhost" : name + ".example.net";
    run({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout",
         p((name + ".key").c_str()), "-out", p((name + ".csr").c_str())});
    std::vector<std::string> sign{"openssl",
                                  "x509",
                                  "-req",
                                  "-days",
                                  "2",
                                  "-in",
                                  p((name + ".csr").c_str()),
                                  "-CA",
                                  p("ca.crt"),
                                  "-CAkey",
                                  p("ca.key"),
                                  "-CAcreateserial",
                                  "-out",
                                  p((name + ".crt").c_str())};
    if (name == "server") {
      sign.push_back("-extfile");
      sign.push_back(p("san.ext"));
    }
    run(sign);
    std::filesystem::permissions(dir / (name + ".key"), std::filesystem::perms::owner_read |
                                                            std::filesystem::perms::owner_write);
  }
}

}  // namespace

TEST_CASE("an agent login by certificate: its host's certificate logs in as that login only") {
  pg_cluster pg;
  pg.create_loadns_database();
  const auto data = pg.dir() / "data";
  const auto certs = pg.dir() / "certs";
  std::filesystem::create_directory(certs);
  make_certificates(certs);

  // The server's side: its certificate and the CA that signs the agents' certificates.
  for (const auto* f : {"server.crt", "server.key", "ca.crt"}) {
    std::filesystem::copy_file(certs / f, data / f);
  }
  if (::geteuid() == 0) {  // the cluster runs as postgres (scripts/pg-cluster)
    run({"chown", "postgres:postgres", (data / "server.crt").string(),
         (data / "server.key").string(), (data / "ca.crt").string()});
  }
  {
    std::ifstream in(data / "pg_hba.conf");
    std::stringstream old;
    old << in.rdbuf();
    std::ofstream out(data / "pg_hba.conf");
    // First match wins: agents over TLS by certificate, before the test cluster's trust lines.
    out << "hostssl loadns  +loadns_agent  127.0.0.1/32  cert  map=loadns-agents\n" << old.str();
  }
  std::ofstream(data / "pg_ident.conf", std::ios::app)
      << "loadns-agents             /^(web[0-9]+)\\.example\\.net$       agent_\\1\n";
  pg.psql("ALTER SYSTEM SET ssl = on; ALTER SYSTEM SET ssl_ca_file = 'ca.crt';");
  pg.psql("SELECT pg_reload_conf()");
  REQUIRE(loadns::test::eventually(std::chrono::seconds(10),
                                   [&] { return pg.psql("SHOW ssl") == "on"; }));
  REQUIRE(pg.psql("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0");
  pg.psql(
      "CREATE ROLE agent_web1 LOGIN IN ROLE loadns_agent; "
      "CREATE ROLE agent_web2 LOGIN IN ROLE loadns_agent; "
      "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');"
      "INSERT INTO loadns.services (name) VALUES ('api.example.com');"
      "INSERT INTO loadns.agent_grants (login, service) VALUES ('agent_web1', 'api.example.com');");

  // The agent's side: deploy/examples/agent.env's conninfo.
  const auto as = [&](const std::string& login, const std::string& host_certificate,
                      const std::string& sql) {
    std::string conninfo = "host=localhost port=" + std::to_string(pg.port()) +
                           " dbname=loadns user=" + login +
                           " sslmode=verify-full sslrootcert=" + (certs / "ca.crt").string();
    if (!host_certificate.empty()) {
      conninfo += " sslcert=" + (certs / (host_certificate + ".crt")).string() +
                  " sslkey=" + (certs / (host_certificate + ".key")).string();
    }
    return run_process({"psql", "-XAtq", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql});
  };
  const auto ok = as("agent_web1", "web1",
                     "SELECT session_user, loadns.report('api.example.com', 'web1', "
                     "'192.0.2.21', 3)");
  CHECK_MESSAGE(ok.status == 0, ok.err);
  CHECK(ok.out == "agent_web1|0\n");
  CHECK(pg.psql("SELECT registered_by, connections FROM loadns.backends WHERE name = 'web1'") ==
        "agent_web1|3");

  // web1's certificate is not web2's login, web2's certificate not web1's, and no login of
  // loadns_agent connects without a certificate.
  for (const auto& [login, cert, error] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"agent_web2", "web1", "certificate authentication failed for user \"agent_web2\""},
           {"agent_web1", "web2", "certificate authentication failed for user \"agent_web1\""},
           {"agent_web1", "", "connection requires a valid client certificate"},
       }) {
    CAPTURE(login);
    CAPTURE(cert);
    const auto r = as(login, cert, "SELECT 1");
    CHECK(r.status != 0);
    CHECK_MESSAGE(r.err.find(error) != std::string::npos, r.err);
  }
  CHECK(pg.psql("SELECT connections FROM loadns.backends WHERE name = 'web1'") == "3");
}
