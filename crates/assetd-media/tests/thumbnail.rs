//! Thumbnails of real files made by the ffmpeg command line at test time, checked by decoding
//! the JPEG written.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assetd_media::{thumbnail, MediaErrorKind, Thumbnail, ThumbnailOptions, ThumbnailSource};
use common::{failed, huge_png, make, mean_abs_diff, succeeded, write, H264};
use image::{Rgb, RgbImage, RgbaImage};
use tempfile::TempDir;

/// A 320x240 H.264 MP4 of the test pattern.
fn mp4(dir: &Path, name: &str, extra: &str) -> PathBuf {
    make(
        dir,
        name,
        &format!("-f lavfi -i testsrc=duration=2:size=320x240:rate=25 {H264} {extra}"),
    )
}

/// Makes a thumbnail that must succeed; returns it with the decoded JPEG.
fn ok(input: &Path) -> (Thumbnail, RgbImage) {
    ok_with(input, &ThumbnailOptions::default())
}

fn ok_with(input: &Path, options: &ThumbnailOptions) -> (Thumbnail, RgbImage) {
    let output = input.with_extension("thumb.jpg");
    let thumb = succeeded("thumbnail", input, thumbnail(input, &output, options));
    let bytes = fs::read(&output).unwrap();
    assert_eq!(
        image::guess_format(&bytes).unwrap(),
        image::ImageFormat::Jpeg
    );
    let picture = image::load_from_memory(&bytes).unwrap().into_rgb8();
    assert_eq!(
        (picture.width(), picture.height()),
        (thumb.width, thumb.height)
    );
    (thumb, picture)
}

/// Makes a thumbnail that must fail with `kind`; returns the message after checking its form.
fn fails(input: &Path, kind: MediaErrorKind) -> String {
    let output = input.with_extension("thumb.jpg");
    let result = thumbnail(input, &output, &ThumbnailOptions::default());
    failed("thumbnail", input, result, kind)
}

/// Mean of each channel, in levels.
fn mean_rgb(picture: &RgbImage) -> [f64; 3] {
    let n = f64::from(picture.width() * picture.height());
    let mut sum = [0.0; 3];
    for p in picture.pixels() {
        for (s, v) in sum.iter_mut().zip(p.0) {
            *s += f64::from(v);
        }
    }
    sum.map(|s| s / n)
}

fn mean_luma(picture: &RgbImage) -> f64 {
    let [r, g, b] = mean_rgb(picture);
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// Mean absolute difference over all samples of two pictures of one size.
fn difference(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    mean_abs_diff(a.as_raw(), b.as_raw())
}

fn assert_close(pixel: &Rgb<u8>, expected: [u8; 3], what: &str) {
    let near = pixel
        .0
        .iter()
        .zip(expected)
        .all(|(a, b)| a.abs_diff(b) <= 24);
    assert!(near, "{what}: {:?} is not about {expected:?}", pixel.0);
}

#[test]
fn h264_mp4_keeps_its_size() {
    let dir = TempDir::new().unwrap();
    let (thumb, picture) = ok(&mp4(dir.path(), "a.mp4", ""));
    assert_eq!((thumb.width, thumb.height), (320, 240));
    assert_eq!(thumb.source, ThumbnailSource::VideoFrame);
    // A tenth of the way into 2 s.
    let at = thumb.frame_seconds.expect("a frame time");
    assert!((0.15..=0.3).contains(&at), "frame at {at}");
    assert!(mean_luma(&picture) > 60.0, "{:?}", mean_rgb(&picture));
}

#[test]
fn large_video_is_scaled_down() {
    let dir = TempDir::new().unwrap();
    let path = make(
        dir.path(),
        "hd.mp4",
        &format!("-f lavfi -i testsrc=duration=1:size=1280x720:rate=10 {H264}"),
    );
    let (thumb, picture) = ok(&path);
    assert_eq!((thumb.width, thumb.height), (640, 360));
    assert!(mean_luma(&picture) > 60.0);

    let small = ThumbnailOptions {
        max_side: 100,
        ..Default::default()
    };
    let (thumb, _) = ok_with(&path, &small);
    assert_eq!((thumb.width, thumb.height), (100, 56));
}

#[test]
fn black_start_is_skipped() {
    let dir = TempDir::new().unwrap();
    let path = make(
        dir.path(),
        "fade.mp4",
        &format!(
            "-f lavfi -i color=c=black:d=2:s=320x240:r=25 \
             -f lavfi -i testsrc=d=2:s=320x240:r=25 \
             -filter_complex [0][1]concat=n=2:v=1:a=0 {H264}"
        ),
    );
    let (thumb, picture) = ok(&path);
    assert!(mean_luma(&picture) > 60.0, "{:?}", mean_rgb(&picture));
    assert!(thumb.frame_seconds.unwrap() >= 2.0, "{thumb:?}");
}

#[test]
fn all_black_video_still_gets_a_thumbnail() {
    let dir = TempDir::new().unwrap();
    let path = make(
        dir.path(),
        "black.mp4",
        &format!("-f lavfi -i color=c=black:d=1:s=160x120:r=10 {H264}"),
    );
    let (thumb, picture) = ok(&path);
    assert_eq!((thumb.width, thumb.height), (160, 120));
    assert!(mean_luma(&picture) < 16.0);
}

#[test]
fn rotated_video_is_upright() {
    let dir = TempDir::new().unwrap();
    mp4(dir.path(), "plain.mp4", "");
    let rotated = make(
        dir.path(),
        "rotated.mp4",
        "-i plain.mp4 -c copy -metadata:s:v:0 rotate=90",
    );
    let (thumb, picture) = ok(&rotated);
    assert_eq!((thumb.width, thumb.height), (240, 320));

    // The ffmpeg command line turns it upright too; the same frame must match it, and not
    // its half-turn.
    let at = thumb.frame_seconds.unwrap();
    let cli = make(
        dir.path(),
        "cli.png",
        &format!("-ss {at:.3} -i rotated.mp4 -frames:v 1"),
    );
    let cli = image::open(cli).unwrap().into_rgb8();
    let same = difference(&picture, &cli);
    let turned = difference(&picture, &image::imageops::rotate180(&cli));
    assert!(same < 12.0, "differs from the CLI by {same}");
    assert!(turned > 3.0 * same, "{turned} vs {same}");
}

#[test]
fn one_frame_video() {
    let dir = TempDir::new().unwrap();
    let path = make(
        dir.path(),
        "one.mp4",
        &format!("-f lavfi -i testsrc=size=320x240:rate=25 -frames:v 1 {H264}"),
    );
    let (thumb, picture) = ok(&path);
    assert_eq!((thumb.width, thumb.height), (320, 240));
    assert_eq!(thumb.frame_seconds, Some(0.0));
    assert!(mean_luma(&picture) > 60.0);
}

#[test]
fn hdr_video_is_tone_mapped() {
    let dir = TempDir::new().unwrap();
    let source = "-f lavfi -i testsrc2=d=1:s=320x240:r=25";
    let sdr = make(dir.path(), "sdr.mp4", &format!("{source} {H264}"));
    // The same picture as PQ HDR10 with SDR white at 100 nits, as a grading would put it.
    let hdr = make(
        dir.path(),
        "hdr.mp4",
        &format!(
            "{source} -vf format=gbrp,zscale=tin=bt709:pin=bt709:t=smpte2084:p=bt2020:\
             m=bt2020nc:r=tv:npl=100,format=yuv420p10le -c:v libx265 -preset ultrafast \
             -x265-params log-level=error:colorprim=bt2020:transfer=smpte2084:\
             colormatrix=bt2020nc"
        ),
    );
    let (_, sdr) = ok(&sdr);
    let (thumb, hdr) = ok(&hdr);
    assert_eq!((thumb.width, thumb.height), (320, 240));
    // Shown without tone mapping, the picture is dim and grey: a mean difference of about 93
    // levels, and channel means 20 to 33 levels off (tone-mapped: 30, and 7 to 15).
    let (sdr_mean, hdr_mean) = (mean_rgb(&sdr), mean_rgb(&hdr));
    for (s, h) in sdr_mean.iter().zip(hdr_mean) {
        assert!((s - h).abs() < 20.0, "{hdr_mean:?} vs SDR {sdr_mean:?}");
    }
    let diff = difference(&sdr, &hdr);
    assert!(diff < 45.0, "differs from the SDR picture by {diff}");
}

#[test]
fn png_transparency_becomes_white() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("alpha.png");
    let rgba = RgbaImage::from_fn(100, 50, |x, _| {
        if x < 50 {
            image::Rgba([0, 0, 0, 0])
        } else {
            image::Rgba([255, 0, 0, 255])
        }
    });
    rgba.save(&path).unwrap();
    let (thumb, picture) = ok(&path);
    assert_eq!(
        (thumb.width, thumb.height, thumb.source),
        (100, 50, ThumbnailSource::Image)
    );
    assert_eq!(thumb.frame_seconds, None);
    assert_close(picture.get_pixel(10, 25), [255, 255, 255], "transparent");
    assert_close(picture.get_pixel(90, 25), [255, 0, 0], "opaque");
}

/// An APP1 segment with an EXIF orientation tag (big-endian TIFF, one IFD entry).
fn exif_orientation(orientation: u8) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2A\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&[0x00, 0x01]); // one entry
    tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]);
    tiff.extend_from_slice(&[0x00, orientation, 0x00, 0x00]);
    tiff.extend_from_slice(&[0x00; 4]); // no next IFD
    let mut body = b"Exif\x00\x00".to_vec();
    body.extend_from_slice(&tiff);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&(body.len() as u16 + 2).to_be_bytes());
    segment.extend_from_slice(&body);
    segment
}

#[test]
fn jpeg_exif_orientation_is_applied() {
    let dir = TempDir::new().unwrap();
    // Red on the left, blue on the right.
    let plain = make(
        dir.path(),
        "plain.jpg",
        "-f lavfi -i color=c=red:s=32x48[a];color=c=blue:s=32x48[b];[a][b]hstack \
         -frames:v 1 -pix_fmt yuvj444p",
    );
    let jpeg = fs::read(plain).unwrap();
    assert_eq!(&jpeg[..2], b"\xFF\xD8");
    let mut rotated = jpeg[..2].to_vec();
    rotated.extend_from_slice(&exif_orientation(6));
    rotated.extend_from_slice(&jpeg[2..]);
    let path = write(dir.path(), "rotated.jpg", &rotated);

    let (thumb, picture) = ok(&path);
    assert_eq!((thumb.width, thumb.height), (48, 64));
    // Orientation 6 is shown turned a quarter clockwise: the left comes on top.
    assert_close(picture.get_pixel(24, 8), [255, 0, 0], "top");
    assert_close(picture.get_pixel(24, 56), [0, 0, 255], "bottom");
}

#[test]
fn large_png_is_scaled_down() {
    let dir = TempDir::new().unwrap();
    let path = make(
        dir.path(),
        "wide.png",
        "-f lavfi -i testsrc=s=2000x1000 -frames:v 1",
    );
    let (thumb, picture) = ok(&path);
    assert_eq!((thumb.width, thumb.height), (640, 320));
    assert!(mean_luma(&picture) > 60.0);
}

#[test]
fn animated_gif_shows_its_first_frame() {
    let dir = TempDir::new().unwrap();
    let path = make(
        dir.path(),
        "anim.gif",
        "-f lavfi -i color=c=red:s=64x48:d=0.3:r=10[a];color=c=blue:s=64x48:d=0.3:r=10[b];\
         [a][b]concat",
    );
    let (thumb, picture) = ok(&path);
    assert_eq!(
        (thumb.width, thumb.height, thumb.source),
        (64, 48, ThumbnailSource::Image)
    );
    assert_close(picture.get_pixel(32, 24), [255, 0, 0], "first frame");
}

#[test]
fn mp3_cover_art() {
    let dir = TempDir::new().unwrap();
    make(
        dir.path(),
        "cover.png",
        "-f lavfi -i color=c=green:s=200x100 -frames:v 1",
    );
    let path = make(
        dir.path(),
        "song.mp3",
        "-f lavfi -i sine=frequency=440:duration=1 -i cover.png -map 0 -map 1 \
         -c:a libmp3lame -c:v copy -disposition:v attached_pic -id3v2_version 3",
    );
    let (thumb, picture) = ok(&path);
    assert_eq!(
        (thumb.width, thumb.height, thumb.source),
        (200, 100, ThumbnailSource::CoverArt)
    );
    assert_close(picture.get_pixel(100, 50), [0, 128, 0], "cover");
}

/// A waveform is 640x160, light, and shows something besides the background.
fn assert_waveform(thumb: &Thumbnail, picture: &RgbImage) {
    assert_eq!(
        (thumb.width, thumb.height, thumb.source),
        (640, 160, ThumbnailSource::Waveform)
    );
    assert_eq!(thumb.frame_seconds, None);
    let background = *picture.get_pixel(0, 0);
    let drawn = picture.pixels().filter(|p| **p != background).count();
    assert!(drawn > 640 * 10, "only {drawn} pixels drawn");
    assert!(mean_luma(picture) > 100.0);
}

#[test]
fn mp3_and_wav_without_cover_get_a_waveform() {
    let dir = TempDir::new().unwrap();
    // Louder in the second half, so the drawing has a shape.
    let tone = "-f lavfi -i sine=frequency=440:duration=2 -af volume=enable=lt(t\\,1):volume=0.2";
    let mp3 = make(dir.path(), "plain.mp3", &format!("{tone} -c:a libmp3lame"));
    let wav = make(dir.path(), "plain.wav", &format!("{tone} -ac 2"));
    for path in [mp3, wav] {
        let (thumb, picture) = ok(&path);
        assert_waveform(&thumb, &picture);
        // The loud half reaches further from the centre than the quiet half.
        let reach = |x: u32| {
            (0..160)
                .filter(|&y| picture.get_pixel(x, y).0[0] < 200)
                .count()
        };
        assert!(
            reach(480) > reach(160) + 20,
            "{} vs {}",
            reach(480),
            reach(160)
        );
    }
}

#[test]
fn decompression_bomb_is_refused_before_decoding() {
    let dir = TempDir::new().unwrap();
    let path = write(dir.path(), "bomb.png", &huge_png());

    let started = Instant::now();
    let message = fails(&path, MediaErrorKind::InvalidInput);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        message,
        "The image is 20000x20000 pixels, more than the limit of 100000000."
    );
    assert!(!path.with_extension("thumb.jpg").exists());
}

#[test]
fn truncated_mp4_is_invalid_input() {
    let dir = TempDir::new().unwrap();
    let path = mp4(dir.path(), "whole.mp4", "");
    let bytes = fs::read(&path).unwrap();
    let cut = write(dir.path(), "cut.mp4", &bytes[..bytes.len() / 2]);
    fails(&cut, MediaErrorKind::InvalidInput);
}
