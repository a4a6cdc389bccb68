//! Black-box tests: the real server binary, a real SQLite file, real ffmpeg, over HTTP.

mod common;

mod assets_create;
mod assets_errors;
mod assets_list_delete;
mod openapi;
mod origin;
mod server;
mod url_ingest;
