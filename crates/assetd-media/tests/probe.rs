//! The crate's API against real files made by the ffmpeg command line at test time.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assetd_media::{probe, sniff, MediaErrorKind, MediaKind, Probe, SNIFF_LEN};
use common::{failed, ffmpeg, huge_png, make, succeeded, write, H264};
use tempfile::TempDir;

const VIDEO: &str = "-f lavfi -i testsrc=duration=2:size=320x240:rate=25";
const TONE: &str = "-f lavfi -i sine=frequency=440:duration=2";
const VP9: &str = "-c:v libvpx-vp9 -pix_fmt yuv420p -deadline realtime -cpu-used 8 -b:v 200k";

/// A 2 s 320x240 H.264/AAC MP4, as the ffmpeg defaults make it (index at the end).
fn mp4(dir: &Path, name: &str, extra: &str) -> PathBuf {
    make(
        dir,
        name,
        &format!("{VIDEO} {TONE} {H264} -c:a aac -shortest {extra}"),
    )
}

/// Probes a file that must be good; also checks the JSON trip the app makes.
fn ok(path: &Path) -> Probe {
    succeeded("probe", path, probe(path))
}

/// Probes a file that must fail with `kind`; returns the message after checking its form.
fn fails(path: &Path, kind: MediaErrorKind) -> String {
    failed("probe", path, probe(path), kind)
}

fn assert_near(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a duration");
    assert!(
        (actual - expected).abs() < 0.1,
        "{actual} is not about {expected}"
    );
}

fn head(path: &Path) -> Vec<u8> {
    let mut bytes = fs::read(path).unwrap();
    bytes.truncate(SNIFF_LEN);
    bytes
}

/// [`common::noise`] from one seed for the whole file.
fn noise(len: usize) -> Vec<u8> {
    common::noise(0x9E37_79B9_7F4A_7C15, len)
}

#[test]
fn h264_aac_mp4_is_described() {
    let dir = TempDir::new().unwrap();
    let path = mp4(dir.path(), "a.mp4", "");
    let p = ok(&path);
    assert_eq!(
        (p.kind, p.mime_type.as_str()),
        (MediaKind::Video, "video/mp4")
    );
    assert_eq!(p.container_format, "mp4");
    assert_near(p.duration_seconds, 2.0);
    assert!(p.bit_rate_bps.is_some_and(|b| b > 0));
    assert_eq!(p.size_bytes, fs::metadata(&path).unwrap().len());
    assert!(!p.has_cover_art);
    assert!(p.image.is_none());

    let [v] = p.video_streams.as_slice() else {
        panic!("one video stream: {:?}", p.video_streams)
    };
    assert_eq!((v.codec.as_str(), v.width, v.height), ("h264", 320, 240));
    assert_eq!((v.fps, v.avg_fps), (Some(25.0), Some(25.0)));
    assert_eq!(v.rotation, 0);
    assert_eq!(v.pixel_format.as_deref(), Some("yuv420p"));
    assert_eq!(v.bit_depth, Some(8));
    assert!(!v.is_hdr);
    assert_near(v.duration_seconds, 2.0);

    let [a] = p.audio_streams.as_slice() else {
        panic!("one audio stream: {:?}", p.audio_streams)
    };
    assert_eq!(
        (a.codec.as_str(), a.sample_rate, a.channels),
        ("aac", 44100, 1)
    );
    assert_eq!(a.channel_layout.as_deref(), Some("mono"));
    assert!(a.bitrate_bps.is_some_and(|b| b > 0));
    assert_ne!(a.index, v.index);
}

#[test]
fn vp9_opus_webm_is_described() {
    let dir = TempDir::new().unwrap();
    let path = make(
        dir.path(),
        "a.webm",
        &format!("{VIDEO} {TONE} {VP9} -c:a libopus -shortest"),
    );
    let p = ok(&path);
    assert_eq!(
        (p.kind, p.mime_type.as_str()),
        (MediaKind::Video, "video/webm")
    );
    assert_eq!(p.container_format, "webm");
    assert_near(p.duration_seconds, 2.0);
    let v = &p.video_streams[0];
    assert_eq!((v.codec.as_str(), v.width, v.height), ("vp9", 320, 240));
    assert_eq!(p.audio_streams[0].codec, "opus");
    assert_eq!(p.audio_streams[0].sample_rate, 48000);
}

#[test]
fn audio_files_are_audio() {
    let dir = TempDir::new().unwrap();
    // (file, codec options, mime, container, codec)
    let cases = [
        ("a.mp3", "-c:a libmp3lame", "audio/mpeg", "mp3", "mp3"),
        // No ID3 tag: found by MPEG audio frame sync alone.
        (
            "bare.mp3",
            "-c:a libmp3lame -id3v2_version 0",
            "audio/mpeg",
            "mp3",
            "mp3",
        ),
        ("a.wav", "-c:a pcm_s16le", "audio/wav", "wav", "pcm_s16le"),
        ("a.m4a", "-c:a aac", "audio/mp4", "mp4", "aac"),
        // An MP4 (isom brand) with no video: refined to audio by the probe.
        ("audio-only.mp4", "-c:a aac", "audio/mp4", "mp4", "aac"),
        ("a.flac", "-c:a flac", "audio/flac", "flac", "flac"),
        ("a.aac", "-c:a aac -f adts", "audio/aac", "aac", "aac"),
        ("a.ogg", "-c:a libvorbis", "audio/ogg", "ogg", "vorbis"),
    ];
    for (name, codec, mime, container, codec_name) in cases {
        let path = make(dir.path(), name, &format!("{TONE} {codec}"));
        let p = ok(&path);
        assert_eq!(
            (p.kind, p.mime_type.as_str()),
            (MediaKind::Audio, mime),
            "{name}"
        );
        assert_eq!(p.container_format, container, "{name}");
        assert!(p.video_streams.is_empty(), "{name}");
        let [a] = p.audio_streams.as_slice() else {
            panic!("{name}: one audio stream: {:?}", p.audio_streams)
        };
        assert_eq!(
            (a.codec.as_str(), a.sample_rate),
            (codec_name, 44100),
            "{name}"
        );
        assert_near(p.duration_seconds, 2.0);
        assert!(sniff(&head(&path)).is_some(), "{name}");
    }
}

#[test]
fn mp3_cover_art_is_not_video() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    make(d, "cover.png", "-f lavfi -i color=blue:s=64x64 -frames:v 1");
    let args = format!(
        "{TONE} -i cover.png -map 0 -map 1 -c:a libmp3lame -c:v mjpeg \
         -disposition:v attached_pic -id3v2_version 3"
    );
    let p = ok(&make(d, "cover.mp3", &args));
    assert!(p.has_cover_art);
    assert_eq!(
        (p.kind, p.mime_type.as_str()),
        (MediaKind::Audio, "audio/mpeg")
    );
    assert!(p.video_streams.is_empty());
    assert_eq!(p.audio_streams[0].codec, "mp3");
    assert_near(p.duration_seconds, 2.0);
}

#[test]
fn other_containers() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    mp4(d, "a.mp4", "");
    let cases = [
        (
            "a.mov",
            "-i a.mp4 -c copy",
            "video/quicktime",
            "mov",
            "h264",
        ),
        ("a.ts", "-i a.mp4 -c copy", "video/mp2t", "mpegts", "h264"),
        (
            "a.mkv",
            "-i a.mp4 -c copy",
            "video/x-matroska",
            "matroska",
            "h264",
        ),
        (
            "a.avi",
            &format!("{VIDEO} -c:v mpeg4"),
            "video/x-msvideo",
            "avi",
            "mpeg4",
        ),
        (
            "a.ogv",
            &format!("{VIDEO} {TONE} -c:v libtheora -c:a libvorbis"),
            "video/ogg",
            "ogg",
            "theora",
        ),
    ];
    for (name, args, mime, container, codec) in cases {
        let path = make(d, name, args);
        let p = ok(&path);
        assert_eq!(
            (p.kind, p.mime_type.as_str()),
            (MediaKind::Video, mime),
            "{name}"
        );
        assert_eq!(p.container_format, container, "{name}");
        let v = &p.video_streams[0];
        assert_eq!(
            (v.codec.as_str(), v.width, v.height),
            (codec, 320, 240),
            "{name}"
        );
        assert_near(p.duration_seconds, 2.0);
        assert_eq!(sniff(&head(&path)).unwrap().mime_type, mime, "{name}");
    }
}

#[test]
fn subtitles_are_ignored_beside_a_good_stream_and_alone_are_unsupported() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    write(d, "a.srt", b"1\n00:00:00,000 --> 00:00:01,000\nHello\n\n");
    mp4(d, "a.mp4", "");
    let with_subs = make(d, "subs.mkv", "-i a.mp4 -i a.srt -map 0 -map 1 -c copy");
    let p = ok(&with_subs);
    assert_eq!((p.video_streams.len(), p.audio_streams.len()), (1, 1));
    let only_subs = make(d, "only-subs.mkv", "-i a.srt");
    fails(&only_subs, MediaErrorKind::Unsupported);
}

/// Which way the ffmpeg CLI turns the first frame when it autorotates, in degrees clockwise.
fn ffmpeg_autorotation(dir: &Path, name: &str) -> i32 {
    let frame = |options: &str| {
        ffmpeg(
            dir,
            &format!("{options} -i {name} -frames:v 1 -f rawvideo -pix_fmt gray -"),
        )
    };
    let shown = frame("");
    let turns = [
        (0, ""),
        (90, "transpose=clock"),
        (180, "hflip,vflip"),
        (270, "transpose=cclock"),
    ];
    let same = |filter: &str| {
        let vf = if filter.is_empty() {
            String::new()
        } else {
            format!("-vf {filter}")
        };
        ffmpeg(
            dir,
            &format!("-noautorotate -i {name} -frames:v 1 {vf} -f rawvideo -pix_fmt gray -"),
        ) == shown
    };
    let found = turns.iter().find(|(_, filter)| same(filter));
    found
        .map(|(degrees, _)| *degrees)
        .expect("ffmpeg turns by a quarter")
}

/// Overwrites the rotation part of the first `tkhd` (the video track's) display matrix.
fn set_tkhd_matrix(path: &Path, [a, b, c, d]: [i32; 4]) {
    let mut bytes = fs::read(path).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == b"tkhd")
        .expect("a tkhd box");
    assert_eq!(bytes[at + 4], 0, "version 0 tkhd");
    let matrix = at + 4 + 40;
    for (i, v) in [a, b, 0, c, d].iter().enumerate() {
        bytes[matrix + 4 * i..matrix + 4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    fs::write(path, bytes).unwrap();
}

#[test]
fn rotation_comes_from_the_display_matrix() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    // The matrix a phone writes for a portrait video: turn 90 degrees clockwise to view.
    let phone = mp4(d, "phone.mp4", "");
    let one = 1 << 16;
    set_tkhd_matrix(&phone, [0, one, -one, 0]);
    let v = ok(&phone).video_streams[0].clone();
    assert_eq!(v.rotation, 90);
    assert_eq!((v.width, v.height), (320, 240), "the coded size");
    assert_eq!(
        ffmpeg_autorotation(d, "phone.mp4"),
        90,
        "ffmpeg itself agrees"
    );

    // The ffmpeg CLI's own way of writing one. FFmpeg 5.1 writes the matrix for the opposite
    // turn of the legacy tag's meaning; what matters is that we agree with how ffmpeg plays it.
    mp4(d, "plain.mp4", "");
    let tagged = make(
        d,
        "tagged.mp4",
        "-i plain.mp4 -c copy -metadata:s:v:0 rotate=90",
    );
    let rotation = ok(&tagged).video_streams[0].rotation;
    assert_ne!(rotation, 0);
    assert_eq!(rotation, ffmpeg_autorotation(d, "tagged.mp4"));
}

#[test]
fn png_with_alpha() {
    let dir = TempDir::new().unwrap();
    let args = "-f lavfi -i color=red@0.5:s=64x48,format=rgba -frames:v 1";
    let p = ok(&make(dir.path(), "a.png", args));
    assert_eq!(
        (p.kind, p.mime_type.as_str()),
        (MediaKind::Image, "image/png")
    );
    assert_eq!(p.container_format, "png");
    assert_eq!(p.duration_seconds, None);
    assert!(p.video_streams.is_empty() && p.audio_streams.is_empty());
    let image = p.image.unwrap();
    assert_eq!(
        (image.format.as_str(), image.width, image.height),
        ("png", 64, 48)
    );
    assert!(image.has_alpha);
    assert!(!image.is_animated);
    assert_eq!(image.orientation, 1);

    let opaque = make(
        dir.path(),
        "opaque.png",
        "-f lavfi -i color=red:s=64x48 -frames:v 1",
    );
    assert!(!ok(&opaque).image.unwrap().has_alpha);
}

#[test]
fn jpeg_exif_orientation() {
    let dir = TempDir::new().unwrap();
    let path = make(
        dir.path(),
        "a.jpg",
        "-f lavfi -i testsrc=size=64x48 -frames:v 1",
    );
    let plain = ok(&path).image.unwrap();
    assert_eq!((plain.orientation, plain.has_alpha), (1, false));

    // APP1 "Exif": a little-endian TIFF header and one IFD entry, Orientation (0x0112) = 6.
    let mut exif = vec![0xFF, 0xE1, 0x00, 0x22];
    exif.extend_from_slice(b"Exif\0\0II*\0\x08\0\0\0\x01\0");
    exif.extend_from_slice(&[0x12, 0x01, 0x03, 0x00, 0x01, 0, 0, 0, 0x06, 0, 0, 0]);
    exif.extend_from_slice(&[0, 0, 0, 0]);
    let mut bytes = fs::read(&path).unwrap();
    bytes.splice(2..2, exif);
    fs::write(&path, bytes).unwrap();

    let p = ok(&path);
    assert_eq!(
        (p.mime_type.as_str(), p.container_format.as_str()),
        ("image/jpeg", "jpeg")
    );
    let image = p.image.unwrap();
    assert_eq!((image.width, image.height), (64, 48));
    assert_eq!(image.orientation, 6);
    assert!(!image.is_animated);
}

#[test]
fn gif_animation() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let animated = make(
        d,
        "a.gif",
        "-f lavfi -i testsrc=duration=0.5:size=64x48:rate=10",
    );
    let still = make(d, "still.gif", "-f lavfi -i testsrc=size=64x48 -frames:v 1");
    let p = ok(&animated);
    assert_eq!(
        (p.kind, p.mime_type.as_str()),
        (MediaKind::Image, "image/gif")
    );
    let image = p.image.unwrap();
    assert_eq!(
        (image.format.as_str(), image.width, image.height),
        ("gif", 64, 48)
    );
    assert!(image.is_animated);
    assert!(!ok(&still).image.unwrap().is_animated);
}

#[test]
fn a_huge_image_is_probed_from_its_header() {
    // 20000x20000 RGB with almost no pixel data: decoding would fail, and would need 1.2 GB.
    let dir = TempDir::new().unwrap();
    let image = ok(&write(dir.path(), "huge.png", &huge_png()))
        .image
        .unwrap();
    assert_eq!((image.width, image.height), (20000, 20000));
    assert!(!image.has_alpha);
}

#[test]
fn not_media_is_unsupported() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let empty = write(d, "empty", b"");
    assert_eq!(
        fails(&empty, MediaErrorKind::Unsupported),
        "The file is empty."
    );
    let text = write(d, "a.txt", b"Just some notes.\nNothing to see.\n");
    fails(&text, MediaErrorKind::Unsupported);
    for (name, magic) in [
        ("a.zip", &b"PK\x03\x04\x14\x00\x00\x00\x08\x00"[..]),
        ("a.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"),
        // Sniffed as an image, but not one that can be read.
        (
            "a.heic",
            b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
        ),
    ] {
        let bytes = [magic, &noise(2000)].concat();
        fails(&write(d, name, &bytes), MediaErrorKind::Unsupported);
    }
}

#[test]
fn a_missing_file_is_our_failure() {
    let dir = TempDir::new().unwrap();
    fails(&dir.path().join("gone.mp4"), MediaErrorKind::System);
}

#[test]
fn truncated_mp4_is_invalid() {
    let dir = TempDir::new().unwrap();
    let bytes = fs::read(mp4(dir.path(), "a.mp4", "")).unwrap();
    let half = write(dir.path(), "half.mp4", &bytes[..bytes.len() / 2]);
    assert_eq!(
        fails(&half, MediaErrorKind::InvalidInput),
        "The file could not be read as MP4: the index (moov atom) is missing; the file is \
         probably truncated."
    );
}

#[test]
fn a_valid_header_then_garbage_is_invalid() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let faststart = mp4(d, "fast.mp4", "-movflags +faststart");
    let webm = make(d, "a.webm", &format!("{VIDEO} {VP9}"));
    for (source, name) in [(&faststart, "garbage.mp4"), (&webm, "garbage.webm")] {
        let mut bytes = fs::read(source).unwrap();
        bytes.truncate(1024);
        bytes.extend_from_slice(&noise(100 * 1024));
        let path = write(d, name, &bytes);
        assert!(
            sniff(&head(&path)).is_some(),
            "{name} still looks like media"
        );
        fails(&path, MediaErrorKind::InvalidInput);
    }
    // Good boxes, but the coded pictures replaced by noise.
    let mut bytes = fs::read(&faststart).unwrap();
    let mdat = bytes.windows(4).position(|w| w == b"mdat").unwrap() + 4;
    let len = bytes.len() - mdat;
    bytes[mdat..].copy_from_slice(&noise(len));
    let message = fails(&write(d, "noise.mp4", &bytes), MediaErrorKind::InvalidInput);
    assert!(message.contains("could not be decoded"), "{message}");
}

#[test]
fn no_usable_stream_parameters_is_invalid() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let wav = fs::read(make(d, "a.wav", &format!("{TONE} -c:a pcm_s16le"))).unwrap();
    assert_eq!(&wav[12..16], b"fmt ");
    // The canonical "fmt " chunk: channels at 22, sample rate at 24.
    let mut no_channels = wav.clone();
    no_channels[22..24].copy_from_slice(&0u16.to_le_bytes());
    let message = fails(
        &write(d, "no-channels.wav", &no_channels),
        MediaErrorKind::InvalidInput,
    );
    assert!(message.contains("usable parameters"), "{message}");
    let mut no_rate = wav;
    no_rate[24..28].copy_from_slice(&0u32.to_le_bytes());
    fails(
        &write(d, "no-rate.wav", &no_rate),
        MediaErrorKind::InvalidInput,
    );
}

#[test]
fn truncated_images_are_invalid() {
    let dir = TempDir::new().unwrap();
    let png = make(
        dir.path(),
        "a.png",
        "-f lavfi -i color=red:s=64x48 -frames:v 1",
    );
    let bytes = fs::read(png).unwrap();
    fails(
        &write(dir.path(), "cut.png", &bytes[..20]),
        MediaErrorKind::InvalidInput,
    );
}

/// No cut of a real file may end in anything but an answer about the file: a panic or a
/// libav crash would show as a System error or take the test down.
#[test]
fn files_cut_anywhere_get_an_answer() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let sources = [
        mp4(d, "a.mp4", "-movflags +faststart"),
        make(
            d,
            "a.webm",
            &format!("{VIDEO} {TONE} {VP9} -c:a libopus -shortest"),
        ),
        make(d, "a.mp3", &format!("{TONE} -c:a libmp3lame")),
        make(
            d,
            "a.gif",
            "-f lavfi -i testsrc=duration=0.5:size=64x48:rate=10",
        ),
        make(d, "a.jpg", "-f lavfi -i testsrc=size=64x48 -frames:v 1"),
    ];
    for source in sources {
        let bytes = fs::read(&source).unwrap();
        for tenth in 1..10 {
            let path = write(d, "cut", &bytes[..bytes.len() * tenth / 10]);
            if let Err(e) = probe(&path) {
                assert_ne!(
                    e.kind,
                    MediaErrorKind::System,
                    "{source:?} cut at {tenth}/10: {e:?}"
                );
            }
        }
    }
}
