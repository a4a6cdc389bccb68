//! Media knowledge for assetd, with no knowledge of the app.
//!
//! Takes paths and byte slices and returns its own serde types, so that the app can run the
//! work in a child process (`assetd-media ...`) and read the result as JSON.

mod error;
mod hls;
mod probe;
mod sniff;
mod thumbnail;

use std::sync::Once;

pub use error::{MediaError, MediaErrorKind};
pub use hls::{hls, HlsMode, HlsOptions, HlsOutput, MASTER_PLAYLIST};
pub use probe::{probe, AudioStream, ImageInfo, Probe, VideoStream};
pub use sniff::{sniff, MediaKind, Sniffed};
pub use thumbnail::{thumbnail, Thumbnail, ThumbnailOptions, ThumbnailSource};

/// How many bytes from the start of a file [`sniff`] wants to see.
pub const SNIFF_LEN: usize = 8 * 1024;

/// Initialises libav once per process and silences its logging below fatal errors, since the
/// app reads stdout as JSON and keeps stderr for real failures. Safe to call many times.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
        // Registers devices only; cannot fail on FFmpeg >= 5.
        let _ = ffmpeg_next::init();
    });
}
