-- 0008: answer counts shared by every nameserver of a zone. least_load predicts a backend's
-- load as its reported connections plus the answers given since the report; with several
-- servers each one must count the others' answers too, or every server sends a newcomer the
-- whole gap. Each server writes the answers it gave each backend in short flush periods (at
-- most 4 a second, one statement each) and reads the others' since the last read.
--
-- Rows are bounded: servers x backends x the flush periods of the retention (the writer
-- deletes its own rows after 30 s, any writer deletes anyone's after 60 s: the rows of a
-- server that stopped). Only loadns_server writes it; agents have no access.

CREATE TABLE loadns.shared_answers (
    server text NOT NULL,
    flush bigint NOT NULL,
    backend_id bigint NOT NULL,
    answers integer NOT NULL,
    flushed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT shared_answers_pkey PRIMARY KEY (server, flush, backend_id),
    CONSTRAINT shared_answers_answers_positive CHECK ((answers > 0)),
    CONSTRAINT shared_answers_flush_positive CHECK ((flush > 0))
);

CREATE INDEX shared_answers_flushed_at ON loadns.shared_answers USING btree (flushed_at);

COMMENT ON TABLE loadns.shared_answers IS 'Answers each loadns-server gave each backend per flush period (written by loadns_server only), so that every server predicts load with every server''s answers.';
COMMENT ON COLUMN loadns.shared_answers.server IS 'The writing server: host name and a random id per process.';
COMMENT ON COLUMN loadns.shared_answers.flush IS 'The writer''s flush number, increasing; readers ask for newer ones.';
COMMENT ON COLUMN loadns.shared_answers.backend_id IS 'loadns.backends.id (no foreign key: a deleted backend''s rows age out).';
COMMENT ON COLUMN loadns.shared_answers.answers IS 'Answers given to the backend in the flush period that ended at flushed_at.';
COMMENT ON COLUMN loadns.shared_answers.flushed_at IS 'End of the flush period, on the database''s clock.';

-- Servers write their own rows and delete aged ones; nobody else may write. No UPDATE: rows
-- are never changed, a flush is a new number.
GRANT SELECT, INSERT, DELETE ON loadns.shared_answers TO loadns_server;
