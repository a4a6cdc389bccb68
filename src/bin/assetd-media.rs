//! `assetd-media`: the media child. The server runs one per probe, thumbnail
//! or HLS packaging (see `assetd::media_child`), so that a file that crashes
//! or hangs libav costs one attempt, never the server. It is a binary of its
//! own so that only it links FFmpeg's libraries: the server process maps 5
//! shared libraries instead of about 170 (its idle RSS fell from 50 to about
//! 15 MiB).

use std::process::ExitCode;

use assetd::config::MediaChildArgs;
use assetd::media_child;
use clap::Parser;

fn main() -> ExitCode {
    media_child::child_main(MediaChildArgs::parse().task)
}
