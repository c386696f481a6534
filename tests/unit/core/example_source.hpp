#pragma once
// Hand-made core::source values for the core unit tests, the fuzz targets and the schema
// differential test. The example: two zones (one
// nested), services with v4/v6 backends in every state, static records of every type, CNAME
// chains, empty non-terminals. Documentation addresses only.

#include "server/core/source.hpp"

namespace loadns::test {

/// The example zones; every name below is in it:
///   example.com            SOA, NS ns1.example.com ns2.example.net, MX, TXT
///   child.example.com      its own zone (SOA serial 7)
///   api.example.com        service (1 answer, ttl 30): 192.0.2.1, 192.0.2.2, 2001:db8::1
///   multi.example.com      service (3 answers): 192.0.2.11-13
///   strict.example.com     service, accept_nonce = false: 192.0.2.21
///   api.eu.example.com     service: 192.0.2.31 (eu.example.com is an empty non-terminal)
///   empty.example.com      service without backends
///   v6.example.com         service: 2001:db8::9 only
///   many.example.com       service (48 answers): 48 IPv6 backends 2001:db8::100..
///   b-api.example.com      service: 192.0.2.41 (for the dash form's ambiguity)
///   ns1, mail              A (and AAAA for ns1); www CNAME api; alias CNAME www; out CNAME
///   www.example.org; dangling CNAME nowhere; loop1 <-> loop2; deep.a.b TXT
core::source example_source();

/// The smallest source a row under test can be added to: the zone example.com alone (serial 1,
/// NS ns1.example.com, minimum 60) with the service api.example.com and nothing else, no
/// backend, no record.
core::source minimal_source();

}  // namespace loadns::test
