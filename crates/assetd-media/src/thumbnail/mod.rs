//! Thumbnails: a JPEG of at most `max_side` pixels on its longest side, from the image itself,
//! a representative video frame, the cover art of an audio file, or else its waveform.

mod audio;
mod video;

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use ffmpeg_next::Error as AvError;
use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use serde::{Deserialize, Serialize};

use crate::probe::av::{describe_error, is_system_error};
use crate::probe::format_label;
use crate::probe::image::image_error;
use crate::{MediaError, MediaKind, Probe};

const JPEG_QUALITY: u8 = 85;
/// Room for a decoder's own buffers beside the picture, when limiting its allocations.
const DECODER_SLACK_BYTES: u64 = 64 * 1024 * 1024;
/// The widest pixel the accepted formats decode to: RGBA with 16-bit channels.
const MAX_BYTES_PER_PIXEL: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailOptions {
    /// The longest side of the thumbnail; smaller pictures are never enlarged.
    pub max_side: u32,
    /// Larger source images (width times height) are refused before they are decoded.
    pub max_pixels: u64,
}

impl Default for ThumbnailOptions {
    fn default() -> Self {
        Self {
            max_side: 640,
            max_pixels: 100_000_000,
        }
    }
}

/// What the thumbnail shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThumbnailSource {
    Image,
    VideoFrame,
    CoverArt,
    Waveform,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    pub source: ThumbnailSource,
    /// Where in the video the frame was taken, in seconds from its start.
    pub frame_seconds: Option<f64>,
}

/// Writes a JPEG thumbnail of `input` to `output` (the caller gives a temporary path and
/// renames it after success).
pub fn thumbnail(
    input: &Path,
    output: &Path,
    options: &ThumbnailOptions,
) -> Result<Thumbnail, MediaError> {
    crate::init();
    // No input may take the process down with a panic: the caller needs a typed answer.
    catch_unwind(AssertUnwindSafe(|| make(input, output, options))).unwrap_or_else(|_| {
        Err(MediaError::system(
            "The thumbnail could not be made: it failed unexpectedly.",
        ))
    })
}

fn make(input: &Path, output: &Path, options: &ThumbnailOptions) -> Result<Thumbnail, MediaError> {
    let options = ThumbnailOptions {
        max_side: options.max_side.max(1),
        ..*options
    };
    // The probe validates the file and says which way to go.
    let probe = crate::probe(input)?;
    let (picture, source, frame_seconds) = match probe.kind {
        MediaKind::Image => (
            picture(input, &probe, &options)?,
            ThumbnailSource::Image,
            None,
        ),
        MediaKind::Video => {
            let (picture, seconds) = video::frame(input, &probe, &options)?;
            (picture, ThumbnailSource::VideoFrame, Some(seconds))
        }
        MediaKind::Audio => match audio::cover_art(input, &probe, &options)? {
            Some(picture) => (picture, ThumbnailSource::CoverArt, None),
            None => (
                audio::waveform(input, &probe, &options)?,
                ThumbnailSource::Waveform,
                None,
            ),
        },
    };
    write_jpeg(&picture, output)?;
    Ok(Thumbnail {
        width: picture.width(),
        height: picture.height(),
        source,
        frame_seconds,
    })
}

/// A still image, decoded with its header checked first so that a decompression bomb never
/// gets its pixels allocated.
fn picture(path: &Path, probe: &Probe, options: &ThumbnailOptions) -> Result<RgbImage, MediaError> {
    let label = format_label(&probe.mime_type);
    let info = probe
        .image
        .as_ref()
        .ok_or_else(|| MediaError::system("The image was probed without its description."))?;
    check_pixels(info.width, info.height, options)?;
    let format = ImageFormat::from_extension(&info.format)
        .ok_or_else(|| MediaError::unsupported(format!("{label} images are not supported.")))?;
    let file = File::open(path).map_err(|e| MediaError::io(&e))?;
    let mut reader = ImageReader::with_format(BufReader::new(file), format);
    reader.limits(decode_limits(info.width, info.height));
    let mut decoder = reader.into_decoder().map_err(|e| image_error(e, label))?;
    // Odd EXIF must not fail an otherwise good image.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    // Animated GIF and WebP decode to their first frame.
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(e, label))?;
    Ok(finish(image, orientation, options.max_side))
}

fn check_pixels(width: u32, height: u32, options: &ThumbnailOptions) -> Result<(), MediaError> {
    if u64::from(width) * u64::from(height) > options.max_pixels {
        return Err(MediaError::invalid_input(format!(
            "The image is {width}x{height} pixels, more than the limit of {}.",
            options.max_pixels
        )));
    }
    Ok(())
}

/// Holds a decoder to the size its header announced, and its memory to what that size needs,
/// so that a header that lies cannot make it allocate more.
fn decode_limits(width: u32, height: u32) -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc =
        Some(u64::from(width) * u64::from(height) * MAX_BYTES_PER_PIXEL + DECODER_SLACK_BYTES);
    limits
}

/// Scales down (before turning, which is cheaper on the small picture), turns upright and
/// flattens transparency onto white.
fn finish(image: DynamicImage, orientation: Orientation, max_side: u32) -> RgbImage {
    let (width, height) = fit(image.width(), image.height(), max_side);
    let mut image = if (width, height) == (image.width(), image.height()) {
        image
    } else {
        image.thumbnail_exact(width, height)
    };
    image.apply_orientation(orientation);
    flatten(image)
}

/// The size that fits `width` x `height` within `max_side` on its longest side, keeping the
/// aspect ratio; never larger than it was.
fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side {
        return (width.max(1), height.max(1));
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(max_side) + u64::from(longest) / 2) / u64::from(longest);
        (scaled as u32).clamp(1, max_side)
    };
    (scale(width), scale(height))
}

fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white = |c: u8| {
            let (c, a) = (u32::from(c), u32::from(a));
            ((c * a + 255 * (255 - a) + 127) / 255) as u8
        };
        image::Rgb([over_white(r), over_white(g), over_white(b)])
    })
}

/// A libav failure reading the `what` ("audio", "video") of the file: ours or the file's.
fn read_error(what: &str, error: &AvError) -> MediaError {
    if is_system_error(error) {
        MediaError::system(format!("The {what} could not be read: {error}."))
    } else {
        MediaError::invalid_input(format!(
            "The {what} could not be read: {}; the file is probably corrupt.",
            describe_error(error)
        ))
    }
}

fn write_jpeg(picture: &RgbImage, output: &Path) -> Result<(), MediaError> {
    let failed = |e: &dyn std::fmt::Display| {
        MediaError::system(format!("The thumbnail could not be written: {e}."))
    };
    // io::Error carries no path, so its text is safe to show.
    let file = File::create(output).map_err(|e| failed(&e))?;
    let mut writer = BufWriter::new(file);
    JpegEncoder::new_with_quality(&mut writer, JPEG_QUALITY)
        .encode_image(picture)
        .map_err(|e| failed(&e))?;
    writer.flush().map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_the_aspect_ratio_and_never_enlarges() {
        assert_eq!(fit(2000, 1000, 640), (640, 320));
        assert_eq!(fit(1000, 2000, 640), (320, 640));
        assert_eq!(fit(1280, 720, 640), (640, 360));
        assert_eq!(fit(320, 240, 640), (320, 240));
        assert_eq!(fit(640, 640, 640), (640, 640));
        assert_eq!(fit(100_000, 1, 640), (640, 1));
        assert_eq!(fit(0, 0, 640), (1, 1));
    }

    #[test]
    fn transparency_becomes_white() {
        let mut rgba = image::RgbaImage::new(2, 1);
        rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        rgba.put_pixel(1, 0, image::Rgba([0, 0, 0, 128]));
        let flat = flatten(DynamicImage::ImageRgba8(rgba));
        assert_eq!(flat.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(flat.get_pixel(1, 0).0, [127, 127, 127]);
    }

    #[test]
    fn pixel_limit_message() {
        let e = check_pixels(20_000, 20_000, &ThumbnailOptions::default()).unwrap_err();
        assert_eq!(
            e.message,
            "The image is 20000x20000 pixels, more than the limit of 100000000."
        );
        assert!(check_pixels(10_000, 10_000, &ThumbnailOptions::default()).is_ok());
    }
}
