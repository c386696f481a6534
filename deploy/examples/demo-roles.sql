-- The demo's login roles and database edge, run once by an administrator (a superuser) on the
-- loadns database before `loadns-server migrate`. Idempotent.
--   psql "host=... dbname=loadns user=postgres" -v ON_ERROR_STOP=1 \
--        -v owner_password=... -v server_password=... -v agent_password=... \
--        -v agents=agent_web1,agent_web2 -f demo-roles.sql
-- (scripts/demo uses trust authentication, so its passwords are never asked for; docker-compose
-- passes real ones. A real deployment gives each agent login a password or certificate of its
-- own: README, "Agent logins".)
--
-- loadns_owner  owns the database and the loadns schema: migrates, and is the operator.
--               No superuser, no CREATEROLE (in PostgreSQL 15 that could grant itself any
--               role); this script creates the roles it needs instead.
-- server        member of loadns_server (reads the tables).
-- each of :agents   member of loadns_agent (may call loadns.report() for the services
--               demo-seed.sql grants it, for the rows it registered).

-- The product's group roles, so that the owner can migrate without CREATEROLE.
SELECT format('CREATE ROLE %I NOLOGIN', r)
  FROM unnest(ARRAY['loadns_agent', 'loadns_server']) r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec

SELECT format('CREATE ROLE loadns_owner LOGIN PASSWORD %L', :'owner_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'loadns_owner') \gexec

-- A server holds one connection to poll and LISTEN (and one to share its answer counts);
-- an agent holds one, and a second while it reconnects. The limits keep a leaked or stolen
-- password from exhausting max_connections; statement_timeout and lock_timeout bound what
-- one session can hold (report() takes a row lock; the snapshot query reads every table).
SELECT format('CREATE ROLE server LOGIN PASSWORD %L CONNECTION LIMIT 8 IN ROLE loadns_server',
              :'server_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'server') \gexec
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L CONNECTION LIMIT 3 IN ROLE loadns_agent',
              a, :'agent_password')
  FROM unnest(string_to_array(:'agents', ',')) a
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = a) \gexec

SELECT format('ALTER ROLE server IN DATABASE %I SET %s', current_database(), setting)
  FROM unnest(ARRAY['statement_timeout = ''30s''', 'lock_timeout = ''5s''',
                    'idle_in_transaction_session_timeout = ''60s''']) setting \gexec
SELECT format('ALTER ROLE %I IN DATABASE %I SET %s', a, current_database(), setting)
  FROM unnest(string_to_array(:'agents', ',')) a,
       unnest(ARRAY['statement_timeout = ''5s''', 'lock_timeout = ''5s''',
                    'idle_in_transaction_session_timeout = ''30s''']) setting \gexec

-- The database: owned by loadns_owner; only loadns roles connect, nobody makes temporary
-- tables (PostgreSQL grants CONNECT and TEMPORARY to PUBLIC by default).
SELECT format('ALTER DATABASE %I OWNER TO loadns_owner', current_database()) \gexec
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO loadns_owner, loadns_agent, loadns_server',
              current_database()) \gexec
-- (PostgreSQL 15 already refuses PUBLIC the right to create in the public schema.)
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
