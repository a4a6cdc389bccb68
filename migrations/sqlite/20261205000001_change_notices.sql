-- PostgreSQL's version of this migration makes the `assets` table notify
-- other nodes of changes, for their in-memory read answers. A SQLite file
-- has one server and keeps no such answers: nothing to do here, but the
-- version is kept so that both engines' histories stay alike.
SELECT 1;
