//! What the test files share: files made by the ffmpeg command line or by hand, and the checks
//! every answer of the crate must pass.

// Each test file is a crate of its own and uses only some of these.
#![allow(dead_code)]

use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use assetd_media::{MediaError, MediaErrorKind};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// 8-bit 4:2:0 H.264, as players take it, made fast.
pub const H264: &str = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p";

/// Runs the ffmpeg CLI in `dir` with whitespace-separated `args`, returning its stdout.
pub fn ffmpeg(dir: &Path, args: &str) -> Vec<u8> {
    let mut command = Command::new("ffmpeg");
    command
        .args("-hide_banner -loglevel error -nostdin -y".split_whitespace())
        .args(args.split_whitespace())
        .current_dir(dir);
    run(&mut command, &format!("ffmpeg {args}"))
}

/// Runs ffprobe on `path` with whitespace-separated `args`, returning its stdout.
pub fn ffprobe(path: &Path, args: &str) -> String {
    let mut command = Command::new("ffprobe");
    command
        .args("-v error".split_whitespace())
        .args(args.split_whitespace())
        .arg(path);
    String::from_utf8(run(&mut command, &format!("ffprobe {args} {path:?}"))).unwrap()
}

/// Runs `command`, shown as `shown` in a failure, which must succeed; returns its stdout.
fn run(command: &mut Command, shown: &str) -> Vec<u8> {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{shown} could not start ({e}); is it installed?"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{shown} failed: {stderr}");
    out.stdout
}

/// Makes `name` in `dir` with ffmpeg `args` (inputs and options).
pub fn make(dir: &Path, name: &str, args: &str) -> PathBuf {
    ffmpeg(dir, &format!("{args} {name}"));
    dir.join(name)
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// The answer of `what` on `input`, which must succeed; also checks the JSON trip the app
/// makes.
pub fn succeeded<T>(what: &str, input: &Path, result: Result<T, MediaError>) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let value = result.unwrap_or_else(|e| panic!("{what} of {input:?} failed: {e:?}"));
    let json = serde_json::to_string(&value).unwrap();
    assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value);
    value
}

/// The message of `what` on `input`, which must fail with `kind`; checked to be a sentence
/// that shows no path.
pub fn failed<T: Debug>(
    what: &str,
    input: &Path,
    result: Result<T, MediaError>,
    kind: MediaErrorKind,
) -> String {
    match result {
        Ok(value) => panic!("{what} of {input:?} should fail with {kind:?}, got {value:?}"),
        Err(e) => {
            assert_eq!(e.kind, kind, "{input:?}: {e:?}");
            let dir = input.parent().unwrap().to_str().unwrap();
            assert!(
                !e.message.contains(dir),
                "message shows a path: {}",
                e.message
            );
            assert!(e.message.ends_with('.'), "not a sentence: {}", e.message);
            e.message
        }
    }
}

/// Deterministic noise from `seed`, so that a failure can be reproduced.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Mean absolute difference over all samples of two pictures of one size.
pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len() as f64
}

/// A valid PNG header for 20000x20000 RGB and a token of data: 1.2 GB if it were decoded.
pub fn huge_png() -> Vec<u8> {
    let mut ihdr = 20_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&20_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (ISO-HDLC) as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
