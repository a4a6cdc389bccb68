//! Says whether a file is valid media and describes it.

pub(crate) mod av;
pub(crate) mod image;
mod mp4;

use std::fs::File;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{sniff, MediaError, MediaKind, SNIFF_LEN};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Final kind: a container with no real video stream is audio; cover art never counts as video.
    pub kind: MediaKind,
    /// Refined from the sniffed type, e.g. audio-only MP4 is "audio/mp4".
    pub mime_type: String,
    /// Short name: "mp4", "mov", "webm", "matroska", "mp3", "png", ...
    pub container_format: String,
    /// Container duration, else the longest stream's; `None` for still images.
    pub duration_seconds: Option<f64>,
    pub bit_rate_bps: Option<u64>,
    pub size_bytes: u64,
    /// Real video streams only (no attached pictures).
    pub video_streams: Vec<VideoStream>,
    pub audio_streams: Vec<AudioStream>,
    /// An attached picture (cover art) stream exists.
    pub has_cover_art: bool,
    /// `Some` for images only.
    pub image: Option<ImageInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoStream {
    pub index: usize,
    /// As FFmpeg names it: "h264", "hevc", "vp9", ...
    pub codec: String,
    /// Coded size, before `rotation` is applied.
    pub width: u32,
    pub height: u32,
    /// `r_frame_rate`.
    pub fps: Option<f64>,
    pub avg_fps: Option<f64>,
    pub duration_seconds: Option<f64>,
    pub bitrate_bps: Option<u64>,
    /// Degrees clockwise to display upright: 0, 90, 180 or 270.
    pub rotation: i32,
    pub pixel_format: Option<String>,
    pub bit_depth: Option<u8>,
    pub color_space: Option<String>,
    pub color_transfer: Option<String>,
    pub color_primaries: Option<String>,
    /// Transfer is PQ (smpte2084) or HLG (arib-std-b67).
    pub is_hdr: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioStream {
    pub index: usize,
    /// As FFmpeg names it: "aac", "opus", "mp3", "pcm_s16le", ...
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    /// FFmpeg's name: "mono", "stereo", "5.1(side)", ...
    pub channel_layout: Option<String>,
    pub bitrate_bps: Option<u64>,
    pub language: Option<String>,
    pub duration_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// "png", "jpeg", "gif", "webp", "bmp" or "tiff".
    pub format: String,
    pub width: u32,
    pub height: u32,
    /// EXIF orientation 1..=8; 1 when absent.
    pub orientation: u8,
    pub has_alpha: bool,
    pub is_animated: bool,
}

/// Probes a file fully enough to say it is valid media and to describe it.
pub fn probe(path: &Path) -> Result<Probe, MediaError> {
    crate::init();
    // No input may take the process down with a panic: the caller needs a typed answer.
    catch_unwind(AssertUnwindSafe(|| probe_file(path)))
        .unwrap_or_else(|_| Err(MediaError::system("The media probe failed unexpectedly.")))
}

fn probe_file(path: &Path) -> Result<Probe, MediaError> {
    let file = File::open(path).map_err(|e| MediaError::io(&e))?;
    let size = file.metadata().map_err(|e| MediaError::io(&e))?.len();
    if size == 0 {
        return Err(MediaError::unsupported("The file is empty."));
    }
    let mut head = Vec::with_capacity(SNIFF_LEN);
    file.take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| MediaError::io(&e))?;
    let sniffed = sniff(&head).ok_or_else(|| {
        MediaError::unsupported(
            "The file is not a video, audio or image format that can be processed.",
        )
    })?;
    match sniffed.kind {
        MediaKind::Image => image::probe(path, &sniffed, size),
        MediaKind::Video | MediaKind::Audio => av::probe(path, &sniffed, size),
    }
}

/// How a format is named to a user in messages.
pub(crate) fn format_label(mime_type: &str) -> &str {
    match mime_type {
        "video/mp4" | "audio/mp4" => "MP4",
        "video/quicktime" => "QuickTime (MOV)",
        "video/3gpp" | "video/3gpp2" => "3GP",
        "video/webm" | "audio/webm" => "WebM",
        "video/x-matroska" | "audio/x-matroska" => "Matroska (MKV)",
        "video/x-msvideo" => "AVI",
        "video/mp2t" => "MPEG-TS",
        "video/mpeg" => "MPEG",
        "video/x-flv" => "FLV",
        "video/x-ms-asf" => "Windows Media (ASF)",
        "video/ogg" | "audio/ogg" => "Ogg",
        "audio/mpeg" => "MP3",
        "audio/aac" => "AAC",
        "audio/flac" => "FLAC",
        "audio/wav" => "WAV",
        "audio/aiff" => "AIFF",
        "audio/amr" => "AMR",
        "image/png" => "PNG",
        "image/jpeg" => "JPEG",
        "image/gif" => "GIF",
        "image/webp" => "WebP",
        "image/bmp" => "BMP",
        "image/tiff" => "TIFF",
        "image/heic" => "HEIC",
        "image/heif" => "HEIF",
        "image/avif" => "AVIF",
        "image/jxl" => "JPEG XL",
        "image/jp2" => "JPEG 2000",
        "image/vnd.adobe.photoshop" => "Photoshop (PSD)",
        other => other,
    }
}
