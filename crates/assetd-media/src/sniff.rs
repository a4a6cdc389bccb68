//! What a file is, from its first bytes only.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Video,
    Audio,
    Image,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sniffed {
    pub kind: MediaKind,
    pub mime_type: String,
}

impl Sniffed {
    fn new(kind: MediaKind, mime_type: &str) -> Self {
        Self {
            kind,
            mime_type: mime_type.to_owned(),
        }
    }
}

/// From the first bytes of a file (the caller passes at least the first [`crate::SNIFF_LEN`]
/// bytes, or the whole file if shorter). `None` for anything that is not video, audio or an
/// image. Never looks at a file name.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    if head.is_empty() {
        return None;
    }
    let (kind, mime) = strong_magic(head)
        .or_else(|| image(head))
        .or_else(|| weak_magic(head))?;
    Some(Sniffed::new(kind, mime))
}

type Guess = (MediaKind, &'static str);

/// Containers with an unambiguous signature.
fn strong_magic(head: &[u8]) -> Option<Guess> {
    use MediaKind::*;
    if head.get(4..8) == Some(b"ftyp") {
        return Some(iso_bmff(head));
    }
    if is_legacy_quicktime(head) {
        return Some((Video, "video/quicktime"));
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return match ebml_doc_type(head) {
            Some(b"webm") => Some((Video, "video/webm")),
            // DocType defaults to "matroska" when absent.
            Some(b"matroska") | None => Some((Video, "video/x-matroska")),
            Some(_) => None,
        };
    }
    if head.starts_with(b"RIFF") || head.starts_with(b"RF64") {
        match head.get(8..12) {
            Some(b"WAVE") => return Some((Audio, "audio/wav")),
            Some(b"AVI ") | Some(b"AVIX") => return Some((Video, "video/x-msvideo")),
            _ => {}
        }
    }
    if head.starts_with(b"OggS") {
        // Theora's identification header; Ogg puts every stream's first page up front.
        return if find(head, b"\x80theora").is_some() {
            Some((Video, "video/ogg"))
        } else {
            Some((Audio, "audio/ogg"))
        };
    }
    if head.starts_with(b"fLaC") {
        return Some((Audio, "audio/flac"));
    }
    if head.starts_with(b"FORM") && matches!(head.get(8..12), Some(b"AIFF") | Some(b"AIFC")) {
        return Some((Audio, "audio/aiff"));
    }
    const ASF_GUID: [u8; 16] = [
        0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE,
        0x6C,
    ];
    if head.starts_with(&ASF_GUID) {
        return Some((Video, "video/x-ms-asf"));
    }
    if head.starts_with(b"FLV\x01") {
        return Some((Video, "video/x-flv"));
    }
    // MPEG program stream pack header, or an MPEG-1/2 video sequence header.
    if head.starts_with(&[0, 0, 1, 0xBA]) || head.starts_with(&[0, 0, 1, 0xB3]) {
        return Some((Video, "video/mpeg"));
    }
    if head.starts_with(b"#!AMR") {
        return Some((Audio, "audio/amr"));
    }
    if infer::audio::is_dsf(head) {
        return Some((Audio, "audio/x-dsf"));
    }
    if infer::audio::is_ape(head) {
        return Some((Audio, "audio/x-ape"));
    }
    if head.starts_with(b"ID3") {
        return Some((Audio, after_id3(head)));
    }
    None
}

fn image(head: &[u8]) -> Option<Guess> {
    let mime = if infer::image::is_jpeg(head) {
        "image/jpeg"
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        "image/gif"
    } else if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        "image/webp"
    } else if infer::image::is_cr2(head) {
        "image/x-canon-cr2"
    } else if infer::image::is_tiff(head) {
        "image/tiff"
    } else if is_bmp(head) {
        "image/bmp"
    } else if infer::image::is_jxl(head) {
        "image/jxl"
    } else if infer::image::is_jpeg2000(head) {
        "image/jp2"
    } else if infer::image::is_jxr(head) {
        "image/vnd.ms-photo"
    } else if infer::image::is_psd(head) {
        "image/vnd.adobe.photoshop"
    } else {
        return None;
    };
    Some((MediaKind::Image, mime))
}

/// Streams with no file header, recognised by their frame or packet sync.
fn weak_magic(head: &[u8]) -> Option<Guess> {
    if is_mpeg_ts(head, 188, 0) || is_mpeg_ts(head, 192, 4) {
        return Some((MediaKind::Video, "video/mp2t"));
    }
    if frames_follow(head, adts_frame_len) {
        return Some((MediaKind::Audio, "audio/aac"));
    }
    let start = head.iter().position(|&b| b != 0)?;
    if frames_follow(&head[start..], mpeg_audio_frame_len) {
        return Some((MediaKind::Audio, "audio/mpeg"));
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn iso_bmff(head: &[u8]) -> Guess {
    use MediaKind::*;
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let major: &[u8] = head.get(8..12).unwrap_or_default();
    let end = size.clamp(16, head.len().max(16)).min(head.len());
    let compatible: Vec<&[u8]> = head
        .get(16..end)
        .unwrap_or_default()
        .chunks_exact(4)
        .collect();
    let has =
        |brands: &[&[u8]]| brands.contains(&major) || compatible.iter().any(|b| brands.contains(b));
    const HEIC: &[&[u8]] = &[b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"];
    const AVIF: &[&[u8]] = &[b"avif", b"avis"];
    const STILL: &[&[u8]] = &[b"mif1", b"msf1"];
    if HEIC.contains(&major) || (STILL.contains(&major) && has(HEIC)) {
        return (Image, "image/heic");
    }
    if AVIF.contains(&major) || (STILL.contains(&major) && has(AVIF)) {
        return (Image, "image/avif");
    }
    if STILL.contains(&major) {
        return (Image, "image/heif");
    }
    match major {
        b"crx " => (Image, "image/x-canon-cr3"),
        b"qt  " => (Video, "video/quicktime"),
        b"M4A " | b"M4B " | b"M4P " | b"F4A " | b"F4B " => (Audio, "audio/mp4"),
        b if b.starts_with(b"3g2") => (Video, "video/3gpp2"),
        b if b.starts_with(b"3g") => (Video, "video/3gpp"),
        _ => (Video, "video/mp4"),
    }
}

/// QuickTime files from before `ftyp` start straight with a top-level atom.
fn is_legacy_quicktime(head: &[u8]) -> bool {
    match head.get(4..8) {
        Some(b"moov") | Some(b"mdat") => true,
        // Common words: also ask for a small size, which text never has.
        Some(b"wide") | Some(b"free") | Some(b"skip") | Some(b"pnot") => head[0] == 0,
        _ => false,
    }
}

/// The DocType inside the EBML header ("webm" or "matroska"), if the head holds it.
fn ebml_doc_type(head: &[u8]) -> Option<&[u8]> {
    let (id, id_len) = ebml_id(head)?;
    if id != 0x1A45_DFA3 {
        return None;
    }
    let (size, size_len) = ebml_size(&head[id_len..])?;
    let body_start = id_len + size_len;
    let body_end = size.map_or(head.len(), |s| body_start.saturating_add(s).min(head.len()));
    let mut body = head.get(body_start..body_end)?;
    while !body.is_empty() {
        let (id, id_len) = ebml_id(body)?;
        let (size, size_len) = ebml_size(&body[id_len..])?;
        let data_start = id_len + size_len;
        let data_end = data_start.saturating_add(size?);
        let data = body.get(data_start..data_end)?;
        if id == 0x4282 {
            // Strings may be padded with NULs.
            let len = data.iter().position(|&b| b == 0).unwrap_or(data.len());
            return Some(&data[..len]);
        }
        body = &body[data_end..];
    }
    None
}

/// Length of an EBML variable-size integer from its first byte.
fn vint_len(first: u8) -> Option<usize> {
    let len = first.leading_zeros() as usize + 1;
    (len <= 8).then_some(len)
}

/// An element ID keeps its length marker bits.
fn ebml_id(buf: &[u8]) -> Option<(u32, usize)> {
    let len = vint_len(*buf.first()?)?;
    if len > 4 {
        return None;
    }
    let bytes = buf.get(..len)?;
    Some((
        bytes.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)),
        len,
    ))
}

/// A data size drops the marker; all ones means "unknown" (`None` in the result).
fn ebml_size(buf: &[u8]) -> Option<(Option<usize>, usize)> {
    let len = vint_len(*buf.first()?)?;
    let bytes = buf.get(..len)?;
    let mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let value = bytes[1..]
        .iter()
        .fold(u64::from(bytes[0] & mask), |acc, &b| {
            acc << 8 | u64::from(b)
        });
    let unknown = (1u64 << (7 * len)) - 1;
    let size = if value == unknown {
        None
    } else {
        Some(usize::try_from(value).ok()?)
    };
    Some((size, len))
}

/// ID3v2 is a tag in front of MP3 mostly, but also of AAC and FLAC.
fn after_id3(head: &[u8]) -> &'static str {
    let Some(header) = head.get(..10) else {
        return "audio/mpeg";
    };
    let syncsafe = header[6..10]
        .iter()
        .fold(0usize, |acc, &b| acc << 7 | usize::from(b & 0x7F));
    let footer = if header[5] & 0x10 != 0 { 10 } else { 0 };
    let rest = head.get(10 + syncsafe + footer..).unwrap_or_default();
    let rest = match rest.iter().position(|&b| b != 0) {
        Some(start) => &rest[start..],
        None => rest,
    };
    if rest.starts_with(b"fLaC") {
        "audio/flac"
    } else if frames_follow(rest, adts_frame_len) {
        "audio/aac"
    } else {
        "audio/mpeg"
    }
}

/// MPEG-TS: a 0x47 sync byte at the start of every packet (188 bytes, or 192 with the
/// 4-byte M2TS timestamp in front), checked over up to eight packets.
fn is_mpeg_ts(head: &[u8], packet: usize, offset: usize) -> bool {
    let positions = (0..8)
        .map(|i| offset + i * packet)
        .take_while(|&p| p < head.len());
    let mut count = 0;
    for p in positions {
        if head[p] != 0x47 {
            return false;
        }
        count += 1;
    }
    count >= 2
}

/// A frame header at the start, and another where it says the next frame starts (when the
/// head reaches that far).
fn frames_follow(buf: &[u8], frame_len: fn(&[u8]) -> Option<usize>) -> bool {
    let Some(len) = frame_len(buf) else {
        return false;
    };
    match buf.get(len..) {
        Some(next) if next.len() >= 4 => frame_len(next).is_some(),
        _ => true,
    }
}

/// Length of the ADTS (AAC) frame whose header starts `buf`.
fn adts_frame_len(buf: &[u8]) -> Option<usize> {
    let h = buf.get(..7)?;
    // 12-bit sync, then layer bits that are always 0.
    if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
        return None;
    }
    let sample_rate_index = (h[2] >> 2) & 0x0F;
    if sample_rate_index > 12 {
        return None;
    }
    let len = (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
    (len >= 7).then_some(len)
}

/// Length of the MPEG audio (MP1/MP2/MP3) frame whose header starts `buf`.
fn mpeg_audio_frame_len(buf: &[u8]) -> Option<usize> {
    const BITRATES_V1: [[u32; 15]; 3] = [
        [
            0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ],
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ],
        [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ],
    ];
    const BITRATES_V2: [[u32; 15]; 2] = [
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ],
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ];
    let h = buf.get(..4)?;
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 0x03; // 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    let layer = match (h[1] >> 1) & 0x03 {
        3 => 1,
        2 => 2,
        1 => 3,
        _ => return None,
    };
    let bitrate_index = usize::from(h[2] >> 4);
    let rate_index = usize::from((h[2] >> 2) & 0x03);
    if version == 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    if h[3] & 0x03 == 2 {
        return None; // reserved emphasis
    }
    let padding = u32::from((h[2] >> 1) & 0x01);
    let (kbps, sample_rate) = match version {
        3 => (
            BITRATES_V1[layer - 1][bitrate_index],
            [44100, 48000, 32000][rate_index],
        ),
        2 => (
            BITRATES_V2[usize::from(layer != 1)][bitrate_index],
            [22050, 24000, 16000][rate_index],
        ),
        _ => (
            BITRATES_V2[usize::from(layer != 1)][bitrate_index],
            [11025, 12000, 8000][rate_index],
        ),
    };
    let bps = kbps * 1000;
    let len = match layer {
        1 => (12 * bps / sample_rate + padding) * 4,
        3 if version != 3 => 72 * bps / sample_rate + padding,
        _ => 144 * bps / sample_rate + padding,
    };
    usize::try_from(len).ok()
}

fn is_bmp(head: &[u8]) -> bool {
    head.starts_with(b"BM")
        && head.get(14..18).is_some_and(|b| {
            let dib = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            matches!(dib, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use MediaKind::*;

    fn mime(head: &[u8]) -> Option<(MediaKind, String)> {
        sniff(head).map(|s| (s.kind, s.mime_type))
    }

    fn is(head: &[u8], kind: MediaKind, mime_type: &str) {
        assert_eq!(
            mime(head),
            Some((kind, mime_type.to_owned())),
            "head {:02x?}",
            &head[..head.len().min(32)]
        );
    }

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut b = size.to_be_bytes().to_vec();
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0, 0, 2, 0]);
        for c in compatible {
            b.extend_from_slice(*c);
        }
        b.extend_from_slice(&8u32.to_be_bytes());
        b.extend_from_slice(b"free");
        b
    }

    #[test]
    fn nothing_for_non_media() {
        for head in [
            &b""[..],
            b"hello world, this is text\n",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
            b"\x7fELF\x02\x01\x01\x00",
            b"BM is not a bitmap without a header",
            b"the free world",
            &[0u8; 64],
            b"MThd\x00\x00\x00\x06\x00\x01",
        ] {
            assert_eq!(mime(head), None, "{head:02x?}");
        }
    }

    #[test]
    fn iso_bmff_brands() {
        is(
            &ftyp(b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"]),
            Video,
            "video/mp4",
        );
        is(&ftyp(b"mp42", &[b"mp42", b"isom"]), Video, "video/mp4");
        is(&ftyp(b"qt  ", &[b"qt  "]), Video, "video/quicktime");
        is(
            &ftyp(b"M4A ", &[b"M4A ", b"mp42", b"isom"]),
            Audio,
            "audio/mp4",
        );
        is(&ftyp(b"3gp4", &[b"3gp4"]), Video, "video/3gpp");
        is(&ftyp(b"heic", &[b"mif1", b"heic"]), Image, "image/heic");
        is(&ftyp(b"mif1", &[b"mif1", b"heic"]), Image, "image/heic");
        is(&ftyp(b"avif", &[b"avif", b"mif1"]), Image, "image/avif");
        is(
            b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat",
            Video,
            "video/quicktime",
        );
        is(
            b"\x00\x00\x10\x00moov\x00\x00\x00\x6cmvhd",
            Video,
            "video/quicktime",
        );
    }

    fn ebml(doc_type: &[u8]) -> Vec<u8> {
        let mut body = vec![0x42, 0x86, 0x81, 0x01]; // EBMLVersion 1
        body.extend_from_slice(&[0x42, 0x82, 0x80 | doc_type.len() as u8]);
        body.extend_from_slice(doc_type);
        body.extend_from_slice(&[0x42, 0x87, 0x81, 0x04]); // DocTypeVersion 4
        let mut b = vec![0x1A, 0x45, 0xDF, 0xA3, 0x80 | body.len() as u8];
        b.extend_from_slice(&body);
        b.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF]);
        b
    }

    #[test]
    fn matroska_and_webm_by_doc_type() {
        is(&ebml(b"webm"), Video, "video/webm");
        is(&ebml(b"matroska"), Video, "video/x-matroska");
        assert_eq!(mime(&ebml(b"somethingelse")), None);
        assert_eq!(ebml_doc_type(&ebml(b"webm")), Some(&b"webm"[..]));
        // Cut before the DocType arrives: still Matroska-family.
        is(&ebml(b"webm")[..6], Video, "video/x-matroska");
    }

    #[test]
    fn ebml_sizes() {
        assert_eq!(ebml_size(&[0x81]), Some((Some(1), 1)));
        assert_eq!(ebml_size(&[0x40, 0x02]), Some((Some(2), 2)));
        assert_eq!(ebml_size(&[0xFF]), Some((None, 1)));
        assert_eq!(
            ebml_size(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            Some((None, 8))
        );
        assert_eq!(ebml_size(&[0x00]), None);
        assert_eq!(ebml_id(&[0x1A, 0x45, 0xDF, 0xA3]), Some((0x1A45_DFA3, 4)));
    }

    #[test]
    fn riff_family() {
        is(b"RIFF\x24\x00\x00\x00WAVEfmt ", Audio, "audio/wav");
        is(b"RIFF\x24\x00\x00\x00AVI LIST", Video, "video/x-msvideo");
        is(b"RIFF\x24\x00\x00\x00WEBPVP8 ", Image, "image/webp");
        assert_eq!(mime(b"RIFF\x24\x00\x00\x00ACONanih"), None);
    }

    #[test]
    fn ogg_audio_or_theora() {
        let mut page = b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        page.extend_from_slice(&[0; 14]);
        let mut vorbis = page.clone();
        vorbis.extend_from_slice(b"\x01vorbis");
        is(&vorbis, Audio, "audio/ogg");
        let mut theora = page;
        theora.extend_from_slice(b"\x80theora");
        is(&theora, Video, "video/ogg");
    }

    #[test]
    fn other_signatures() {
        is(b"fLaC\x00\x00\x00\x22", Audio, "audio/flac");
        is(b"FORM\x00\x00\x10\x00AIFFCOMM", Audio, "audio/aiff");
        is(b"FLV\x01\x05\x00\x00\x00\x09", Video, "video/x-flv");
        is(b"\x00\x00\x01\xba\x44\x00\x04\x00", Video, "video/mpeg");
        is(b"#!AMR\n", Audio, "audio/amr");
        is(
            b"\x30\x26\xB2\x75\x8E\x66\xCF\x11\xA6\xD9\x00\xAA\x00\x62\xCE\x6C",
            Video,
            "video/x-ms-asf",
        );
    }

    #[test]
    fn images() {
        is(b"\xff\xd8\xff\xe0\x00\x10JFIF", Image, "image/jpeg");
        is(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", Image, "image/png");
        is(b"GIF89a\x40\x00\x30\x00", Image, "image/gif");
        is(b"II*\x00\x08\x00\x00\x00\x00\x00\x00", Image, "image/tiff");
        is(b"MM\x00*\x00\x00\x00\x08\x00\x00\x00", Image, "image/tiff");
        let mut bmp = b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00".to_vec();
        bmp.extend_from_slice(&40u32.to_le_bytes());
        is(&bmp, Image, "image/bmp");
    }

    /// An MPEG-1 Layer III frame header: 128 kbit/s, 44.1 kHz, no padding (417 bytes).
    const MP3_HEADER: [u8; 4] = [0xFF, 0xFB, 0x90, 0x64];

    fn frames(header: &[u8], len: usize, count: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..count {
            let mut frame = vec![0x55; len];
            frame[..header.len()].copy_from_slice(header);
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn mpeg_audio_frames() {
        assert_eq!(mpeg_audio_frame_len(&MP3_HEADER), Some(417));
        // MPEG-2 Layer III, 64 kbit/s, 22.05 kHz: 72 * 64000 / 22050 = 208.
        assert_eq!(mpeg_audio_frame_len(&[0xFF, 0xF3, 0x80, 0xC4]), Some(208));
        assert_eq!(mpeg_audio_frame_len(&[0xFF, 0xFB, 0xF0, 0x64]), None);
        assert_eq!(mpeg_audio_frame_len(&[0xFF, 0xFB, 0x9C, 0x64]), None);
        is(&frames(&MP3_HEADER, 417, 3), Audio, "audio/mpeg");
        // Leading zero padding is common.
        let mut padded = vec![0; 100];
        padded.extend_from_slice(&frames(&MP3_HEADER, 417, 3));
        is(&padded, Audio, "audio/mpeg");
        // A lone header followed by something else is not MP3.
        let mut broken = frames(&MP3_HEADER, 417, 1);
        broken.extend_from_slice(&[0x12; 500]);
        assert_eq!(mime(&broken), None);
    }

    #[test]
    fn adts_frames() {
        // AAC LC, 44.1 kHz, stereo, frame length 371.
        let len = 371usize;
        let header = [
            0xFF,
            0xF1,
            0x50,
            0x80 | ((len >> 11) & 0x03) as u8,
            ((len >> 3) & 0xFF) as u8,
            (((len & 0x07) << 5) as u8) | 0x1F,
            0xFC,
        ];
        assert_eq!(adts_frame_len(&header), Some(len));
        is(&frames(&header, len, 3), Audio, "audio/aac");
    }

    #[test]
    fn id3_then_what() {
        let mut tag = b"ID3\x04\x00\x00\x00\x00\x00\x0a".to_vec();
        tag.extend_from_slice(&[0; 10]);
        let mut mp3 = tag.clone();
        mp3.extend_from_slice(&frames(&MP3_HEADER, 417, 2));
        is(&mp3, Audio, "audio/mpeg");
        let mut flac = tag.clone();
        flac.extend_from_slice(b"fLaC\x00\x00\x00\x22");
        is(&flac, Audio, "audio/flac");
        // A tag larger than the head (cover art): MP3 is the likely content.
        is(b"ID3\x03\x00\x00\x00\x10\x00\x00", Audio, "audio/mpeg");
    }

    #[test]
    fn mpeg_ts_sync_bytes() {
        let mut ts = vec![0u8; 188 * 4];
        for i in 0..4 {
            ts[i * 188] = 0x47;
        }
        is(&ts, Video, "video/mp2t");
        let mut m2ts = vec![0u8; 192 * 4];
        for i in 0..4 {
            m2ts[i * 192 + 4] = 0x47;
        }
        is(&m2ts, Video, "video/mp2t");
        ts[188 * 2] = 0;
        assert_eq!(mime(&ts), None);
        // One packet is not enough to tell.
        assert!(!is_mpeg_ts(&[0x47; 100], 188, 0));
    }
}
