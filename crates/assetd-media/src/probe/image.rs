//! Still and animated images, through the `image` crate. Only headers are read: a huge image
//! probes as fast as a small one and its pixels are never allocated.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use image::{ImageDecoder, ImageError, ImageFormat, ImageReader};

use super::{format_label, ImageInfo, Probe};
use crate::{MediaError, MediaKind, Sniffed};

pub(super) fn probe(path: &Path, sniffed: &Sniffed, size: u64) -> Result<Probe, MediaError> {
    let label = format_label(&sniffed.mime_type);
    let (format, name) = match sniffed.mime_type.as_str() {
        "image/png" => (ImageFormat::Png, "png"),
        "image/jpeg" => (ImageFormat::Jpeg, "jpeg"),
        "image/gif" => (ImageFormat::Gif, "gif"),
        "image/webp" => (ImageFormat::WebP, "webp"),
        "image/bmp" => (ImageFormat::Bmp, "bmp"),
        "image/tiff" => (ImageFormat::Tiff, "tiff"),
        _ => {
            return Err(MediaError::unsupported(format!(
                "{label} images are not supported."
            )))
        }
    };
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| MediaError::io(&e))
    };
    let mut decoder = ImageReader::with_format(open()?, format)
        .into_decoder()
        .map_err(|e| image_error(e, label))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(MediaError::invalid_input(format!(
            "The file could not be read as {label}: the image has no pixels."
        )));
    }
    let mut has_alpha = decoder.color_type().has_alpha();
    // Odd EXIF must not fail an otherwise good image.
    let orientation = decoder.orientation().map_or(1, |o| o.to_exif());
    drop(decoder);

    // Animation is not in the decoders' header API; a short walk over the chunks tells.
    let mut file = open()?;
    let frames = match format {
        ImageFormat::Png => png_frames(&mut file).unwrap_or(1),
        ImageFormat::WebP => webp_frames(&mut file).unwrap_or(1),
        ImageFormat::Gif => {
            let gif = gif_frames(&mut file).unwrap_or_default();
            // The decoder always says RGBA for GIF; transparency is per frame.
            has_alpha = gif.transparent;
            gif.frames
        }
        _ => 1,
    };
    Ok(Probe {
        kind: MediaKind::Image,
        mime_type: sniffed.mime_type.clone(),
        container_format: name.to_owned(),
        duration_seconds: None,
        bit_rate_bps: None,
        size_bytes: size,
        video_streams: Vec::new(),
        audio_streams: Vec::new(),
        has_cover_art: false,
        image: Some(ImageInfo {
            format: name.to_owned(),
            width,
            height,
            orientation,
            has_alpha,
            is_animated: frames > 1,
        }),
    })
}

pub(crate) fn image_error(error: ImageError, label: &str) -> MediaError {
    match error {
        ImageError::IoError(e)
            if !matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
            ) =>
        {
            MediaError::io(&e)
        }
        ImageError::IoError(_) => MediaError::invalid_input(format!(
            "The file could not be read as {label}: it is truncated or corrupt."
        )),
        ImageError::Unsupported(e) => MediaError::unsupported(format!(
            "This {label} image is not supported ({}).",
            detail(&e.to_string())
        )),
        ImageError::Limits(_) => MediaError::invalid_input(format!(
            "The file could not be read as {label}: its header asks for more memory than an \
             image of its kind may use."
        )),
        other => MediaError::invalid_input(format!(
            "The file could not be read as {label}: it is corrupt or truncated ({}).",
            detail(&other.to_string())
        )),
    }
}

/// A decoder's error text, fit to sit in brackets in a sentence: decoders quote raw bytes.
fn detail(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(160)
        .collect();
    let clean = clean.trim().trim_end_matches('.');
    let mut chars = clean.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "no detail".to_owned(),
    }
}

/// Reads exactly `N` bytes, or `None` at the end of the file.
fn read_array<const N: usize, R: Read>(r: &mut R) -> io::Result<Option<[u8; N]>> {
    let mut buf = [0u8; N];
    match r.read_exact(&mut buf) {
        Ok(()) => Ok(Some(buf)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Real files have few chunks before the answer; the bound keeps a crafted file cheap.
const MAX_CHUNKS: usize = 100_000;

/// Frame count from an APNG's `acTL` chunk, which comes before the first `IDAT`.
fn png_frames<R: Read + Seek>(r: &mut R) -> io::Result<u32> {
    r.seek(SeekFrom::Start(8))?;
    for _ in 0..MAX_CHUNKS {
        let Some(header) = read_array::<8, _>(r)? else {
            break;
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        match &header[4..8] {
            b"acTL" => {
                return Ok(read_array::<4, _>(r)?.map_or(1, u32::from_be_bytes));
            }
            b"IDAT" | b"IEND" => break,
            _ => {
                r.seek(SeekFrom::Current(i64::from(len) + 4))?;
            }
        }
    }
    Ok(1)
}

/// Counts `ANMF` (animation frame) chunks, stopping at two.
fn webp_frames<R: Read + Seek>(r: &mut R) -> io::Result<u32> {
    r.seek(SeekFrom::Start(12))?;
    let mut frames = 0;
    for _ in 0..MAX_CHUNKS {
        let Some(header) = read_array::<8, _>(r)? else {
            break;
        };
        if &header[..4] == b"ANMF" {
            frames += 1;
            if frames >= 2 {
                break;
            }
        }
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        // Chunks are padded to an even size.
        r.seek(SeekFrom::Current(i64::from(len) + i64::from(len & 1)))?;
    }
    Ok(frames.max(1))
}

#[derive(Debug, Default)]
struct GifInfo {
    /// Up to two.
    frames: u32,
    /// The first frame uses a transparent colour.
    transparent: bool,
}

/// Walks the GIF blocks up to the second image, skipping the pixel data.
fn gif_frames<R: Read + Seek>(r: &mut R) -> io::Result<GifInfo> {
    let mut info = GifInfo::default();
    r.seek(SeekFrom::Start(10))?;
    let Some([flags, _, _]) = read_array::<3, _>(r)? else {
        return Ok(info);
    };
    skip_color_table(r, flags)?;
    for _ in 0..MAX_CHUNKS {
        let Some([block]) = read_array::<1, _>(r)? else {
            break;
        };
        match block {
            // Image descriptor: position and size, then a colour table and LZW data.
            0x2C => {
                info.frames += 1;
                if info.frames >= 2 {
                    break;
                }
                let Some(descriptor) = read_array::<9, _>(r)? else {
                    break;
                };
                skip_color_table(r, descriptor[8])?;
                r.seek(SeekFrom::Current(1))?; // LZW minimum code size
                skip_sub_blocks(r)?;
            }
            0x21 => {
                let Some([label]) = read_array::<1, _>(r)? else {
                    break;
                };
                if label == 0xF9 {
                    // Graphic control: [size 4, flags, delay x2, transparent index].
                    if let Some([_, flags]) = read_array::<2, _>(r)? {
                        // The first frame is what a still or a thumbnail shows; later
                        // frames use transparency to draw only what changed.
                        if info.frames == 0 {
                            info.transparent = flags & 0x01 != 0;
                        }
                        r.seek(SeekFrom::Current(-2))?;
                    }
                }
                skip_sub_blocks(r)?;
            }
            _ => break, // trailer (0x3B) or something broken
        }
    }
    Ok(info)
}

fn skip_color_table<R: Seek>(r: &mut R, flags: u8) -> io::Result<()> {
    if flags & 0x80 != 0 {
        let entries = 2i64 << (flags & 0x07);
        r.seek(SeekFrom::Current(3 * entries))?;
    }
    Ok(())
}

fn skip_sub_blocks<R: Read + Seek>(r: &mut R) -> io::Result<()> {
    for _ in 0..MAX_CHUNKS * 10 {
        match read_array::<1, _>(r)? {
            Some([0]) | None => return Ok(()),
            Some([len]) => {
                r.seek(SeekFrom::Current(i64::from(len)))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A GIF with one frame per entry, each with or without a transparent colour.
    fn gif(transparent: &[bool]) -> Vec<u8> {
        let mut b = b"GIF89a\x02\x00\x02\x00".to_vec();
        b.extend_from_slice(&[0x80, 0, 0]); // global table of 2 colours
        b.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        b.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00");
        for &t in transparent {
            b.extend_from_slice(&[0x21, 0xF9, 0x04, u8::from(t), 10, 0, 0, 0]);
            b.extend_from_slice(&[0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0]);
            b.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00]);
        }
        b.push(0x3B);
        b
    }

    #[test]
    fn error_detail_is_tidy() {
        assert_eq!(
            detail("Format error: bad \u{95}HYs chunk.."),
            "format error: bad ?HYs chunk"
        );
        assert_eq!(detail(""), "no detail");
        assert_eq!(detail(&"x".repeat(500)).len(), 160);
    }

    #[test]
    fn gif_frames_and_transparency() {
        let read = |bytes: Vec<u8>| {
            let info = gif_frames(&mut Cursor::new(bytes)).unwrap();
            (info.frames, info.transparent)
        };
        assert_eq!(read(gif(&[false])), (1, false));
        assert_eq!(read(gif(&[false, false, false])), (2, false));
        assert_eq!(read(gif(&[true])), (1, true));
        // Later frames are drawn over the first through transparency; the image is opaque.
        assert_eq!(read(gif(&[false, true])), (2, false));
        // Cut in the middle of the first frame: no error, what was seen.
        let mut cut = gif(&[false, false]);
        cut.truncate(58);
        assert_eq!(read(cut).0, 1);
    }

    fn png(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in chunks {
            b.extend_from_slice(&(data.len() as u32).to_be_bytes());
            b.extend_from_slice(*kind);
            b.extend_from_slice(data);
            b.extend_from_slice(&[0; 4]); // CRC, not checked here
        }
        b
    }

    #[test]
    fn apng_frames_come_from_actl() {
        let ihdr = [0u8; 13];
        let still = png(&[(b"IHDR", &ihdr), (b"IDAT", &[1, 2, 3]), (b"IEND", &[])]);
        assert_eq!(png_frames(&mut Cursor::new(still)).unwrap(), 1);
        let mut actl = 5u32.to_be_bytes().to_vec();
        actl.extend_from_slice(&0u32.to_be_bytes());
        let apng = png(&[
            (b"IHDR", &ihdr),
            (b"acTL", &actl),
            (b"IDAT", &[1]),
            (b"IEND", &[]),
        ]);
        assert_eq!(png_frames(&mut Cursor::new(apng)).unwrap(), 5);
    }

    fn webp(chunks: &[(&[u8; 4], usize)]) -> Vec<u8> {
        let mut b = b"RIFF\x00\x00\x00\x00WEBP".to_vec();
        for (kind, len) in chunks {
            b.extend_from_slice(*kind);
            b.extend_from_slice(&(*len as u32).to_le_bytes());
            b.resize(b.len() + len + len % 2, 0);
        }
        b
    }

    #[test]
    fn webp_counts_animation_frames() {
        let count = |bytes: Vec<u8>| webp_frames(&mut Cursor::new(bytes)).unwrap();
        assert_eq!(count(webp(&[(b"VP8 ", 31)])), 1);
        assert_eq!(
            count(webp(&[(b"VP8X", 10), (b"ANIM", 6), (b"ANMF", 41)])),
            1
        );
        assert_eq!(
            count(webp(&[
                (b"VP8X", 10),
                (b"ANIM", 6),
                (b"ANMF", 41),
                (b"ANMF", 40)
            ])),
            2
        );
    }
}
