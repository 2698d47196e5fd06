-- Stored replies keyed op id first: op ids are time-ordered (UUIDv7 from
-- breakglass clients), so each new reply lands at the end of the index
-- instead of on a page of its own inside the sender's range. Keyed by user
-- first, a burst of ops from many users dirtied one page per user per
-- commit. Lookups give both columns, so they are served as before; the
-- pair stays unique, so two users may still pick the same op id.
CREATE TABLE op_replies_by_op (
    op_id      TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    reply      TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (op_id, user_name)
);
INSERT INTO op_replies_by_op (op_id, user_name, reply, at)
    SELECT op_id, user_name, reply, at FROM op_replies;
DROP TABLE op_replies;
ALTER TABLE op_replies_by_op RENAME TO op_replies;
