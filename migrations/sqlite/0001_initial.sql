-- Requests and grants keep the whole protocol object as JSON (one source of
-- truth for their shape) beside the columns that are queried, and a version
-- bumped by every write: updates are compare-and-set on it.
CREATE TABLE requests (
    id          TEXT PRIMARY KEY,
    requester   TEXT NOT NULL,
    service     TEXT NOT NULL,
    state       TEXT NOT NULL,
    ticket      TEXT,
    created_at  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX requests_state ON requests(state);
CREATE INDEX requests_requester ON requests(requester);

CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL,
    service     TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX grants_state ON grants(state);
CREATE INDEX grants_user ON grants(user_name);

-- The gateway's hash chain (DESIGN.md section 5). seq is dense from 1.
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    origin     TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_actor ON audit(actor);
CREATE INDEX audit_at ON audit(at);

-- Replies of mutating ops by (user, op id): a resent op id gets the stored
-- reply and causes no second effect.
CREATE TABLE op_replies (
    user_name  TEXT NOT NULL,
    op_id      TEXT NOT NULL,
    reply      TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (user_name, op_id)
);

-- Bearer tokens, stored only as sha256 of their secret part.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    label       TEXT NOT NULL DEFAULT ''
);
