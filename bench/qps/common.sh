# bench/qps/common.sh: what bench/qps/run and bench/qps/profile share, so that both measure
# the same servers on the same data: the query file, the yardsticks' configurations (NSD with
# a static wildcard zone, gdnsd with a `weighted` resource) and loadns's database.
# Sourced, not run; the caller has `set -euo pipefail`, a `die` function and `$root`.

# qps_make_queries FILE N SEED: N fresh nonce names, half dash (`k3j9xq2m4t7a-api.example.com`)
# and half label style (`k3j9xq2m4t7a.api.example.com`), all type A, in dnsperf's format.
qps_make_queries() {
  awk -v n="$2" -v seed="$3" 'BEGIN {
    srand(seed); a = "abcdefghijklmnopqrstuvwxyz0123456789"
    for (i = 0; i < n; i++) {
      s = ""; for (j = 0; j < 12; j++) s = s substr(a, int(rand() * 36) + 1, 1)
      if (i % 2) print s "-api.example.com A"; else print s ".api.example.com A"
    }
  }' >"$1"
}

# qps_nsd_config DIR PORT: nsd.conf and the zone in DIR; NSD then runs as `nsd -d -c DIR/nsd.conf`
# (one serving process, logging to DIR/nsd.log). Wildcards `*.example.com` and
# `*.api.example.com` answer both nonce styles.
qps_nsd_config() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  cat >"$dir/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@$port
  server-count: 1
  username: ""
  zonesdir: "$dir"
  database: ""
  pidfile: "$dir/nsd.pid"
  xfrdfile: "$dir/xfrd.state"
  zonelistfile: "$dir/zone.list"
  xfrdir: "$dir"
  logfile: "$dir/nsd.log"
  verbosity: 1
  tcp-count: 1000
  # Response rate limiting would drop a benchmark's repeated wildcard answers.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  # Answer section only, as loadns and gdnsd answer.
  minimal-responses: yes
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: example.com.zone
EOF
  cat >"$dir/example.com.zone" <<'EOF'
$ORIGIN example.com.
$TTL 3600
@     SOA ns1 hostmaster 1 3600 600 1209600 60
@     NS  ns1
ns1   A   192.0.2.53
api   60 A 192.0.2.1
*.api 60 A 192.0.2.1
*     60 A 192.0.2.1
EOF
}

# qps_gdnsd_config DIR PORT: a gdnsd configuration directory (run as `gdnsd -c DIR start`, in the
# foreground): one UDP and one TCP thread, DYNA weighted!api at api, `*.api` and `*` (gdnsd's
# wildcards answer both nonce styles). Three backends: the weighted plugin takes at most 64
# addresses per resource, so gdnsd has no 10,000-backend case.
qps_gdnsd_config() {
  local dir=$1 port=$2
  mkdir -p "$dir/zones"
  cat >"$dir/config" <<EOF
options => {
  listen => { 127.0.0.1:$port => { udp_threads => 1, tcp_threads => 1 } }
  run_dir => $dir/run
  state_dir => $dir/state
}
plugins => {
  weighted => {
    api => {
      b1 = [ 192.0.2.1, 1 ]
      b2 = [ 192.0.2.2, 1 ]
      b3 = [ 192.0.2.3, 1 ]
    }
  }
}
EOF
  cat >"$dir/zones/example.com" <<'EOF'
$TTL 3600
@     SOA ns1 hostmaster 1 3600 600 1209600 60
@     NS  ns1
ns1   A   192.0.2.53
api   60 DYNA weighted!api
*.api 60 DYNA weighted!api
*     60 DYNA weighted!api
EOF
}

# qps_db_setup DIR SERVER_BIN [PREFIX...]: a private PostgreSQL in DIR (started through PREFIX,
# e.g. `taskset -c 1`), migrated by SERVER_BIN, with zone example.com and service
# api.example.com. Sets qps_conn (the conninfo).
qps_db_setup() {
  local dir=$1 bin=$2 port
  shift 2
  port=$("$@" "$root/scripts/pg-cluster" start "$dir")
  qps_conn="host=127.0.0.1 port=$port dbname=loadns user=postgres"
  psql -XAtq -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port dbname=postgres user=postgres" \
    -c "CREATE DATABASE loadns" >/dev/null
  "$bin" migrate --db "$qps_conn" >"$dir.migrate.log" 2>&1 \
    || { cat "$dir.migrate.log" >&2; die "migrate failed"; }
  psql -XAtq -v ON_ERROR_STOP=1 "$qps_conn" >/dev/null <<'SQL'
INSERT INTO loadns.zones (name, mname, rname, nameservers)
  VALUES ('example.com', 'ns1.example.com', 'hostmaster.example.com', ARRAY['ns1.example.com']);
INSERT INTO loadns.records (name, type, ttl, data) VALUES ('ns1.example.com', 'A', 3600, '192.0.2.53');
INSERT INTO loadns.services (name, ttl) VALUES ('api.example.com', 60);
SQL
}

# qps_set_backends N: the service's backends, without agents (served, their load counted from
# answers alone): 192.0.2.1..N up to 250, beyond that loopback addresses 127.16.0.1 onwards.
qps_set_backends() {
  psql -XAtq -v ON_ERROR_STOP=1 "$qps_conn" >/dev/null <<SQL
DELETE FROM loadns.backends WHERE service = 'api.example.com';
INSERT INTO loadns.backends (service, name, address)
  SELECT 'api.example.com', 'b' || i,
         CASE WHEN $1 <= 250 THEN '192.0.2.0'::inet + i ELSE '127.16.0.0'::inet + i END
  FROM generate_series(1, $1) AS i;
SQL
}

# qps_wait_answers PORT WHAT [TRIES]: until the server at PORT answers an A query for a nonce
# name over UDP and over TCP (0.2 s between tries, default 150 tries); dies otherwise.
qps_wait_answers() {
  local port=$1 what=$2 tries=${3:-150} i a t
  for i in $(seq 1 "$tries"); do
    a=$(dig +short +tries=1 +time=1 @127.0.0.1 -p "$port" "probe$i-api.example.com" A 2>/dev/null | head -n1 || true)
    if [[ $a =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
      t=$(dig +tcp +short +tries=1 +time=1 @127.0.0.1 -p "$port" "probe$i.api.example.com" A 2>/dev/null | head -n1 || true)
      [[ $t =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] && return 0
    fi
    sleep 0.2
  done
  die "$what on port $port does not answer api.example.com nonce names"
}

qps_port_in_use() { ss -Htuan "( sport = :$1 )" 2>/dev/null | grep -q .; }
# qps_free_port: a port in 20000..31999 with no UDP or TCP socket on it.
qps_free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    qps_port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port"
}

# qps_tree_pids PID: PID and its descendants (NSD forks its serving children).
qps_tree_pids() {
  local pids=("$1") i=0 child
  while ((i < ${#pids[@]} && i < 64)); do
    for child in $(ps -o pid= --ppid "${pids[i]}" 2>/dev/null); do pids+=("$child"); done
    i=$((i + 1))
  done
  echo "${pids[@]}"
}

# qps_guard_setup SECRET-FILE: what the guard-on loadns runs with: response rate limiting at a
# rate no source reaches (the cost of the limiter, not its effect) and DNS cookies with a fixed
# secret written to SECRET-FILE. Sets qps_guard_args (server flags) and qps_cookie_option
# (dnsperf's -E value: EDNS option 10, an 8-octet client cookie, RFC 7873 4.1).
qps_guard_setup() {
  printf '000102030405060708090a0b0c0d0e0f\n' >"$1"
  chmod 644 "$1"
  qps_guard_args=(--rrl-rate 1000000 --cookie-secret-file "$1")
  qps_cookie_option=10:0123456789abcdef
}
