//! Black-box tests: the real server binary, a real SQLite file, real ffmpeg, over HTTP.

mod common;
mod console;
mod jobs;

mod assets_create;
mod assets_errors;
mod assets_list_delete;
mod burst;
mod cors;
mod crash;
mod deploy_files;
mod fsck;
mod hls_durations;
mod indexed_filters;
mod indexes;
mod list_at_scale;
mod media_matrix;
mod media_steps;
mod metrics;
mod multipart;
mod name_grams;
mod nodes;
mod openapi;
mod origin;
mod public_urls;
mod rate_limit;
mod read_cache;
mod readiness;
mod s3;
mod server;
mod signing_secret;
mod test_s3;
mod url_ingest;
mod user_metadata;
mod webhooks;
