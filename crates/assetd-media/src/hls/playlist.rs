//! The text side of HLS: reading back the media playlist the muxer wrote, and the master
//! playlist with the facts (codecs, bandwidth) only known once the segments exist.

use std::fmt::Write as _;

/// One `#EXTINF` entry of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Segment {
    pub(super) duration: f64,
    pub(super) uri: String,
}

/// The segments of a media playlist, or why it is not what the muxer should have written.
pub(super) fn parse_media_playlist(text: &str) -> Result<Vec<Segment>, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("#EXTM3U") {
        return Err("it does not start with #EXTM3U".to_owned());
    }
    let mut segments = Vec::new();
    let mut duration = None;
    let mut ended = false;
    for line in lines {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let value = rest.split(',').next().unwrap_or_default().trim();
            let seconds = value
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite() && *d >= 0.0)
                .ok_or_else(|| format!("a segment duration ({value}) is not a number"))?;
            duration = Some(seconds);
        } else if line == "#EXT-X-ENDLIST" {
            ended = true;
        } else if !line.starts_with('#') {
            let duration = duration
                .take()
                .ok_or_else(|| format!("the segment {line} has no #EXTINF"))?;
            if !is_plain_file_name(line) {
                return Err(format!("the segment URI {line} is not a plain file name"));
            }
            segments.push(Segment {
                duration,
                uri: line.to_owned(),
            });
        }
    }
    if !ended {
        return Err("it has no #EXT-X-ENDLIST".to_owned());
    }
    Ok(segments)
}

/// A name that resolves next to the playlist, whatever URL prefix serves the folder.
fn is_plain_file_name(uri: &str) -> bool {
    !uri.is_empty()
        && uri != "."
        && uri != ".."
        && uri
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Sets the last segment's length to what remains of `total` seconds (the stream's span, from
/// its timestamps) after the others. However far that is from the muxer's figure, it is the
/// one to trust: the muxer adds up the last segment's packet durations, and a copied packet's
/// is often the nominal frame length, so a variable frame rate comes out as frames counted
/// times a rate the stream does not keep. Only a remainder that is no length at all leaves the
/// muxer's figure.
pub(super) fn settle_last_duration(segments: &mut [Segment], total: f64) {
    let Some((last, others)) = segments.split_last_mut() else {
        return;
    };
    let rest = total - others.iter().map(|s| s.duration).sum::<f64>();
    if rest.is_finite() && rest > 0.0 {
        last.duration = rest;
    }
}

/// The VOD media playlist. Every segment starts with a keyframe, so each can be decoded alone.
pub(super) fn media_playlist(segments: &[Segment]) -> String {
    let longest = segments.iter().map(|s| s.duration).fold(0.0, f64::max);
    // Each segment's length rounded must not exceed the target; whole seconds up is safe.
    let target = (longest - 0.001).ceil().max(1.0) as u64;
    let mut text = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    for segment in segments {
        let _ = write!(text, "#EXTINF:{:.6},\n{}\n", segment.duration, segment.uri);
    }
    text.push_str("#EXT-X-ENDLIST\n");
    text
}

/// What goes into the one `#EXT-X-STREAM-INF` of the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Variant {
    /// Peak segment bit rate, bits per second.
    pub(super) bandwidth: u64,
    pub(super) average_bandwidth: u64,
    /// RFC 6381 codec strings, video first ("avc1.64001f", "mp4a.40.2").
    pub(super) codecs: Vec<String>,
    pub(super) resolution: Option<(u32, u32)>,
    pub(super) uri: &'static str,
}

pub(super) fn master_playlist(variant: &Variant) -> String {
    let mut attributes = format!(
        "BANDWIDTH={},AVERAGE-BANDWIDTH={}",
        variant.bandwidth, variant.average_bandwidth
    );
    if let Some((width, height)) = variant.resolution {
        let _ = write!(attributes, ",RESOLUTION={width}x{height}");
    }
    if !variant.codecs.is_empty() {
        let _ = write!(attributes, ",CODECS=\"{}\"", variant.codecs.join(","));
    }
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:{attributes}\n{}\n",
        variant.uri
    )
}

/// Peak and average bit rates from (seconds, bytes) per segment. A tail segment much shorter
/// than the others is left out of the peak: its fixed overhead would overstate it.
pub(super) fn bandwidths(segments: &[(f64, u64)]) -> (u64, u64) {
    let total_seconds: f64 = segments.iter().map(|(d, _)| d).sum();
    let total_bytes: u64 = segments.iter().map(|(_, b)| b).sum();
    let rate = |seconds: f64, bytes: u64| (bytes as f64 * 8.0 / seconds.max(0.001)).ceil() as u64;
    let average = rate(total_seconds, total_bytes);
    let longest = segments.iter().map(|(d, _)| *d).fold(0.0, f64::max);
    let peak = segments
        .iter()
        .filter(|(d, _)| *d >= longest / 4.0)
        .map(|(d, b)| rate(*d, *b))
        .max()
        .unwrap_or(average);
    (peak.max(average), average)
}

/// "avc1.PPCCLL" from the first sequence parameter set in Annex B H.264 data.
pub(super) fn avc1_codec(annex_b: &[u8]) -> Option<String> {
    let mut i = 0;
    while i + 3 < annex_b.len() {
        if annex_b[i..i + 3] == [0, 0, 1] {
            let nal = &annex_b[i + 3..];
            // profile_idc, constraint flags and level_idc follow the NAL header, and cannot hold
            // an emulation prevention byte (profile and level are never 0).
            if nal.len() >= 4 && nal[0] & 0x1f == 7 && nal[0] & 0x80 == 0 {
                return Some(format!("avc1.{:02x}{:02x}{:02x}", nal[1], nal[2], nal[3]));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_playlist_is_read_back() {
        let text = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n\
                    #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXTINF:6.000000,\n\
                    seg_00000.ts\n#EXTINF:2.040000,\nseg_00001.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(
            parse_media_playlist(text).unwrap(),
            vec![
                Segment {
                    duration: 6.0,
                    uri: "seg_00000.ts".to_owned()
                },
                Segment {
                    duration: 2.04,
                    uri: "seg_00001.ts".to_owned()
                }
            ]
        );
    }

    #[test]
    fn media_playlist_is_written_with_the_last_length_settled() {
        let segment = |duration: f64, n: u32| Segment {
            duration,
            uri: format!("seg_{n:05}.ts"),
        };
        // 75 frames of a variable rate whose packets all say 1/30 s: the muxer makes 2.5 s of
        // the 4 s the timestamps span.
        let mut vfr = vec![segment(2.5, 0)];
        settle_last_duration(&mut vfr, 4.0);
        assert!((vfr[0].duration - 4.0).abs() < 1e-9);
        let mut segments = vec![segment(6.0, 0), segment(6.04, 1), segment(1.933, 2)];
        settle_last_duration(&mut segments, 14.04);
        assert!((segments[2].duration - 2.0).abs() < 1e-9);
        // Nothing left for the last one: the span is not to be believed, the muxer's figure stays.
        settle_last_duration(&mut segments, 12.0);
        assert!((segments[2].duration - 2.0).abs() < 1e-9);
        settle_last_duration(&mut segments, f64::NAN);
        assert!((segments[2].duration - 2.0).abs() < 1e-9);
        settle_last_duration(&mut [], 1.0);

        let text = media_playlist(&segments);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:7\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXTINF:6.000000,\nseg_00000.ts\n#EXTINF:6.040000,\nseg_00001.ts\n\
             #EXTINF:2.000000,\nseg_00002.ts\n#EXT-X-ENDLIST\n"
        );
        assert_eq!(parse_media_playlist(&text).unwrap(), segments);
        let exact = media_playlist(&[segment(6.0, 0)]);
        assert!(exact.contains("#EXT-X-TARGETDURATION:6\n"));
    }

    #[test]
    fn media_playlist_problems_are_named() {
        assert!(parse_media_playlist("").is_err());
        let unfinished = "#EXTM3U\n#EXTINF:6.0,\nseg_00000.ts\n";
        assert!(parse_media_playlist(unfinished)
            .unwrap_err()
            .contains("ENDLIST"));
        let absolute = "#EXTM3U\n#EXTINF:6.0,\n/data/seg_00000.ts\n#EXT-X-ENDLIST\n";
        assert!(parse_media_playlist(absolute)
            .unwrap_err()
            .contains("plain file name"));
        let no_extinf = "#EXTM3U\nseg_00000.ts\n#EXT-X-ENDLIST\n";
        assert!(parse_media_playlist(no_extinf).is_err());
        let bad_duration = "#EXTM3U\n#EXTINF:abc,\nseg_00000.ts\n#EXT-X-ENDLIST\n";
        assert!(parse_media_playlist(bad_duration).is_err());
        assert!(!is_plain_file_name(".."));
        assert!(!is_plain_file_name("http://x/seg.ts"));
    }

    #[test]
    fn master_playlist_has_one_relative_variant() {
        let video = Variant {
            bandwidth: 1_200_000,
            average_bandwidth: 900_000,
            codecs: vec!["avc1.64001f".to_owned(), "mp4a.40.2".to_owned()],
            resolution: Some((1280, 720)),
            uri: "index.m3u8",
        };
        assert_eq!(
            master_playlist(&video),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1200000,AVERAGE-BANDWIDTH=900000,RESOLUTION=1280x720,\
             CODECS=\"avc1.64001f,mp4a.40.2\"\nindex.m3u8\n"
        );
        let audio = Variant {
            codecs: vec!["mp4a.40.2".to_owned()],
            resolution: None,
            ..video
        };
        let text = master_playlist(&audio);
        assert!(!text.contains("RESOLUTION"));
        assert!(text.contains("CODECS=\"mp4a.40.2\""));
    }

    #[test]
    fn bandwidth_is_the_peak_of_full_segments() {
        // 6 s of 750 kB (1 Mbit/s), 6 s of 1.5 MB (2 Mbit/s), a 0.2 s tail of 100 kB.
        let (peak, average) = bandwidths(&[(6.0, 750_000), (6.0, 1_500_000), (0.2, 100_000)]);
        assert_eq!(peak, 2_000_000);
        assert_eq!(average, ((2_350_000.0 * 8.0) / 12.2f64).ceil() as u64);
        // A single short segment still counts.
        assert_eq!(bandwidths(&[(0.5, 1000)]), (16_000, 16_000));
        assert_eq!(bandwidths(&[]), (0, 0));
    }

    #[test]
    fn avc1_codec_comes_from_the_sps() {
        // Access unit delimiter, then an SPS for High profile, level 3.1.
        let data = [
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0, 0, 1, 0x68,
        ];
        assert_eq!(avc1_codec(&data).as_deref(), Some("avc1.64001f"));
        // Constrained baseline, level 3.0, after a slice.
        let data = [0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x27, 0x42, 0xc0, 0x1e, 0x11];
        assert_eq!(avc1_codec(&data).as_deref(), Some("avc1.42c01e"));
        assert_eq!(avc1_codec(&[0, 0, 1, 0x67, 0x64]), None);
        assert_eq!(avc1_codec(&[]), None);
    }
}
