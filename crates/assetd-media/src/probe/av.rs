//! Video and audio files, through libav (ffmpeg-next).

use std::fs::File;
use std::path::Path;

use ffmpeg::codec::packet::side_data::Type as SideDataType;
use ffmpeg::color::{Primaries, Space, TransferCharacteristic};
use ffmpeg::format::stream::Disposition;
use ffmpeg::{
    codec, decoder, format, media, ChannelLayout, Error as AvError, Packet, Rational, Stream,
};
use ffmpeg_next as ffmpeg;

use super::mp4::{find_moov, Moov};
use super::{format_label, AudioStream, Probe, VideoStream};
use crate::{MediaError, MediaKind, Sniffed};

/// The demuxers a sniffed file may be opened with. Keeps playlist and concat demuxers (which
/// open other files or URLs) and every exotic demuxer away from uploaded bytes.
const FORMAT_WHITELIST: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,mpegvideo,\
    mp3,aac,wav,flac,ogg,asf,flv,live_flv,aiff,amr,amrnb,amrwb,dsf,ape";

/// Packets of the primary stream to try before deciding that it does not decode.
const MAX_PRIMARY_PACKETS: usize = 64;
/// Packets of any stream to read while checking.
const MAX_PACKETS: usize = 20_000;
/// Seconds from the start that the data should cover (or the whole claimed duration when
/// shorter); less than a quarter of that fails the file.
const COVERAGE_WINDOW: f64 = 2.0;

pub(super) fn probe(path: &Path, sniffed: &Sniffed, size: u64) -> Result<Probe, MediaError> {
    let label = format_label(&sniffed.mime_type);
    let cannot_read = |reason: &str| {
        MediaError::invalid_input(format!("The file could not be read as {label}: {reason}."))
    };
    let mut input = open(path).map_err(|e| open_error(path, sniffed, size, e))?;
    let container_format = container_name(input.format().name(), &sniffed.mime_type);
    let streams = Streams::collect(&input);

    if !streams.any_audio_or_video {
        return Err(if input.nb_streams() == 0 {
            cannot_read("it contains no streams; the file is probably corrupt or truncated")
        } else {
            MediaError::unsupported("The file contains no video or audio streams.")
        });
    }
    if let Some((medium, codec_name)) = streams.no_decoder {
        // Without a decoder for the picture there is no thumbnail or stream to make.
        let is_video = medium == media::Type::Video;
        if streams.video.is_empty() && (is_video || streams.audio.is_empty()) {
            let what = if is_video { "video" } else { "audio" };
            return Err(MediaError::unsupported(format!(
                "The {what} codec of the file ({codec_name}) is not supported."
            )));
        }
    }
    let Some(primary) = streams.primary else {
        return Err(cannot_read(
            "none of its streams has usable parameters (such as a picture size or a sample \
             rate); the file is probably corrupt",
        ));
    };
    let duration_seconds = positive(input.duration())
        .map(|d| d as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE))
        .or_else(|| {
            let videos = streams.video.iter().filter_map(|s| s.duration_seconds);
            let audios = streams.audio.iter().filter_map(|s| s.duration_seconds);
            videos.chain(audios).reduce(f64::max)
        });
    let described: Vec<usize> = (streams.video.iter().map(|s| s.index))
        .chain(streams.audio.iter().map(|s| s.index))
        .collect();
    let (what, codec_name) = (primary.what, primary.codec_name);
    check_data(&mut input, primary, &described, duration_seconds).map_err(
        |failure| match failure {
            DecodeFailure::System(e) => {
                MediaError::system(format!("The file could not be read: {e}."))
            }
            DecodeFailure::Read(e) => cannot_read(&format!(
                "its data could not be read ({}); the file is probably corrupt or truncated",
                describe_error(&e)
            )),
            DecodeFailure::NoPacket => cannot_read(&format!(
                "its {what} stream contains no data; the file is probably truncated"
            )),
            DecodeFailure::Decode(e) => MediaError::invalid_input(format!(
                "The {what} stream ({codec_name}) of the file could not be decoded: {}. The \
                 file is probably corrupt.",
                e.map_or_else(|| "no frame came out".to_owned(), |e| describe_error(&e))
            )),
            DecodeFailure::EndsEarly { covered, claimed } => cannot_read(&format!(
                "its data ends after {covered:.1} s of the {claimed:.1} s it claims; the file \
                 is probably corrupt or truncated"
            )),
        },
    )?;

    let (kind, mime_type) = refine_mime(&sniffed.mime_type, !streams.video.is_empty());
    Ok(Probe {
        kind,
        mime_type: mime_type.to_owned(),
        container_format,
        duration_seconds,
        bit_rate_bps: positive(input.bit_rate()).map(|b| b as u64),
        size_bytes: size,
        video_streams: streams.video,
        audio_streams: streams.audio,
        has_cover_art: streams.has_cover_art,
        image: None,
    })
}

/// The stream whose decoding is checked: the first usable video stream, else audio.
struct Primary {
    index: usize,
    what: &'static str,
    codec_name: &'static str,
    decoder: decoder::Opened,
}

#[derive(Default)]
struct Streams {
    /// Usable real video streams (no cover art).
    video: Vec<VideoStream>,
    audio: Vec<AudioStream>,
    has_cover_art: bool,
    any_audio_or_video: bool,
    /// The first stream whose codec has no decoder here.
    no_decoder: Option<(media::Type, &'static str)>,
    primary: Option<Primary>,
}

impl Streams {
    fn collect(input: &format::context::Input) -> Self {
        let mut streams = Self::default();
        let mut audio_primary = None;
        for stream in input.streams() {
            let params = stream.parameters();
            let medium = params.medium();
            let is_cover_art = stream.disposition().contains(Disposition::ATTACHED_PIC);
            match medium {
                media::Type::Video if is_cover_art => {
                    streams.has_cover_art = true;
                    continue;
                }
                media::Type::Video | media::Type::Audio => streams.any_audio_or_video = true,
                _ => continue,
            }
            let codec_name = params.id().name();
            let Ok(mut context) = codec::Context::from_parameters(params) else {
                continue;
            };
            // One frame is decoded; threads would only cost start-up time.
            context.set_threading(codec::threading::Config {
                kind: codec::threading::Type::None,
                count: 1,
                ..Default::default()
            });
            let primary = |what, decoder| Primary {
                index: stream.index(),
                what,
                codec_name,
                decoder,
            };
            let opened = if medium == media::Type::Video {
                context.decoder().video().map(|decoder| {
                    if let Some(info) = describe_video(&stream, &decoder, codec_name) {
                        streams.video.push(info);
                        if streams.primary.is_none() {
                            streams.primary = Some(primary("video", decoder.0));
                        }
                    }
                })
            } else {
                context.decoder().audio().map(|decoder| {
                    if let Some(info) = describe_audio(&stream, &decoder, codec_name) {
                        streams.audio.push(info);
                        if audio_primary.is_none() {
                            audio_primary = Some(primary("audio", decoder.0));
                        }
                    }
                })
            };
            // Other errors: parameters a decoder refuses; the stream is left out.
            if let Err(AvError::DecoderNotFound) = opened {
                streams.no_decoder.get_or_insert((medium, codec_name));
            }
        }
        if streams.primary.is_none() {
            streams.primary = audio_primary;
        }
        streams
    }
}

pub(crate) fn open(path: &Path) -> Result<format::context::Input, AvError> {
    // ffmpeg-next panics on a path that is not UTF-8; ours are made by the server.
    let path = path.to_str().ok_or(AvError::Other {
        errno: ffmpeg::error::ENOENT,
    })?;
    let mut options = ffmpeg::Dictionary::new();
    options.set("protocol_whitelist", "file");
    options.set("format_whitelist", FORMAT_WHITELIST);
    // "file:" so that no part of the path is taken for another protocol.
    format::input_with_dictionary(&format!("file:{path}"), options)
}

fn open_error(path: &Path, sniffed: &Sniffed, size: u64, error: AvError) -> MediaError {
    if is_system_error(&error) {
        return MediaError::system(format!("The file could not be opened: {error}."));
    }
    let label = format_label(&sniffed.mime_type);
    let iso_bmff = matches!(
        sniffed.mime_type.as_str(),
        "video/mp4" | "audio/mp4" | "video/quicktime" | "video/3gpp" | "video/3gpp2"
    );
    if iso_bmff {
        let moov = File::open(path).and_then(|mut file| find_moov(&mut file, size));
        if let Some(problem) = moov.ok().and_then(Moov::problem) {
            return MediaError::invalid_input(format!(
                "The file could not be read as {label}: {problem}."
            ));
        }
    }
    MediaError::invalid_input(format!(
        "The file could not be read as {label}: {}; it is probably corrupt or truncated.",
        describe_error(&error)
    ))
}

/// libav error texts are terse; these read better in a sentence.
pub(crate) fn describe_error(error: &AvError) -> String {
    match error {
        AvError::InvalidData => "its data is invalid".to_owned(),
        AvError::Eof => "it ends too early".to_owned(),
        AvError::Other { errno } if *errno == ffmpeg::error::EIO => {
            "its data could not be parsed".to_owned()
        }
        AvError::Other { errno } if *errno == ffmpeg::error::EINVAL => {
            "its content does not match its format".to_owned()
        }
        other => {
            let text = other.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "an unknown error".to_owned(),
            }
        }
    }
}

/// Errors that say our side failed rather than the file.
pub(crate) fn is_system_error(error: &AvError) -> bool {
    // Not EIO: demuxers (Matroska) return it for damaged data, and a failing disk would
    // already have failed the read of the head.
    use ffmpeg::error::{EACCES, EINTR, EMFILE, ENFILE, ENOENT, ENOMEM, ENOSPC, EPERM};
    match error {
        AvError::Other { errno } => {
            [EACCES, EINTR, EMFILE, ENFILE, ENOENT, ENOMEM, ENOSPC, EPERM].contains(errno)
        }
        AvError::Bug | AvError::Bug2 | AvError::Exit | AvError::External => true,
        AvError::ProtocolNotFound => true,
        _ => false,
    }
}

enum DecodeFailure {
    System(AvError),
    Read(AvError),
    NoPacket,
    Decode(Option<AvError>),
    EndsEarly { covered: f64, claimed: f64 },
}

/// How far into its timeline the data read so far reaches, over the streams described.
struct Coverage {
    /// By stream index: time base in seconds, and the start to measure from.
    streams: Vec<Option<(f64, Option<i64>)>>,
    end: Option<f64>,
}

impl Coverage {
    fn new(input: &format::context::Input, described: &[usize]) -> Self {
        let streams = input
            .streams()
            .map(|s| {
                let tb = s.time_base();
                let usable =
                    described.contains(&s.index()) && tb.numerator() > 0 && tb.denominator() > 0;
                let start = (s.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE).then(|| s.start_time());
                usable.then(|| (f64::from(tb), start))
            })
            .collect();
        Self { streams, end: None }
    }

    fn add(&mut self, packet: &Packet) {
        let Some(Some((time_base, start))) = self.streams.get_mut(packet.stream()) else {
            return;
        };
        let Some(ts) = packet.pts().or(packet.dts()) else {
            return;
        };
        let from = *start.get_or_insert(ts);
        let end = (ts
            .saturating_sub(from)
            .saturating_add(packet.duration().max(0))) as f64
            * *time_base;
        self.end = Some(self.end.map_or(end, |e| e.max(end)));
    }
}

/// Reads packets until the primary stream yields a decoded frame, and on until the data
/// covers the start of the timeline the file claims (`claimed`, up to [`COVERAGE_WINDOW`]).
/// Decoders may reject a few leading packets (a stream cut mid-GOP), so one decode error alone
/// does not fail the file; a valid header followed by garbage shows as data that ends early.
fn check_data(
    input: &mut format::context::Input,
    primary: Primary,
    described: &[usize],
    claimed: Option<f64>,
) -> Result<(), DecodeFailure> {
    let Primary {
        index: primary,
        mut decoder,
        ..
    } = primary;
    let mut coverage = Coverage::new(input, described);
    let target = claimed.map(|c| c.min(COVERAGE_WINDOW));
    // Any frame type will do: the decoded data is only looked at for its existence.
    let mut frame = ffmpeg::frame::Video::empty();
    let mut sent = 0;
    let mut decoded = false;
    let mut last_error = None;
    let mut eof = false;
    for _ in 0..MAX_PACKETS {
        // A fresh packet per read: ffmpeg-next's `Packet::read` does not unref
        // the previous contents of a reused packet, so reuse leaks each one.
        let mut packet = Packet::empty();
        match packet.read(input) {
            Ok(()) => {}
            Err(AvError::Eof) => {
                eof = true;
                break;
            }
            Err(e) if is_system_error(&e) => return Err(DecodeFailure::System(e)),
            Err(e) => return Err(DecodeFailure::Read(e)),
        }
        coverage.add(&packet);
        if !decoded && packet.stream() == primary {
            sent += 1;
            if let Err(e) = decoder.send_packet(&packet) {
                last_error = Some(e);
            }
            match receive_frame(&mut decoder, &mut frame) {
                Ok(got) => decoded = got,
                Err(e) => last_error = Some(e),
            }
            if !decoded && sent >= MAX_PRIMARY_PACKETS {
                break;
            }
        }
        let covered = match (target, coverage.end) {
            (Some(target), Some(end)) => end >= target,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if decoded && covered {
            return Ok(());
        }
    }
    if !decoded {
        if sent == 0 {
            return Err(DecodeFailure::NoPacket);
        }
        // Decoders with a delay (B-frames, look-ahead) give their first frame when drained.
        let _ = decoder.send_eof();
        match receive_frame(&mut decoder, &mut frame) {
            Ok(true) => {}
            Ok(false) => return Err(DecodeFailure::Decode(last_error)),
            Err(e) => return Err(DecodeFailure::Decode(Some(e))),
        }
    }
    if let (true, Some(claimed), Some(target), Some(end)) = (eof, claimed, target, coverage.end) {
        // A quarter: durations estimated from the bit rate (VBR MP3 without a header, some
        // MPEG-TS) can be well off, and a header followed by garbage covers almost nothing.
        if end < target / 4.0 {
            return Err(DecodeFailure::EndsEarly {
                covered: end,
                claimed,
            });
        }
    }
    Ok(())
}

/// `Ok(false)` when the decoder wants more input or is drained.
pub(crate) fn receive_frame(
    decoder: &mut decoder::Opened,
    frame: &mut ffmpeg::Frame,
) -> Result<bool, AvError> {
    received(decoder.receive_frame(frame))
}

/// The answer of a libav receive call (decoder, encoder, filter sink): `Ok(false)` for "send
/// more input" and "drained".
pub(crate) fn received(result: Result<(), AvError>) -> Result<bool, AvError> {
    match result {
        Ok(()) => Ok(true),
        Err(AvError::Eof) => Ok(false),
        Err(AvError::Other { errno }) if errno == ffmpeg::error::EAGAIN => Ok(false),
        Err(e) => Err(e),
    }
}

fn describe_video(
    stream: &Stream,
    decoder: &decoder::Video,
    codec_name: &str,
) -> Option<VideoStream> {
    let (width, height) = (decoder.width(), decoder.height());
    if width == 0 || height == 0 {
        return None;
    }
    let pixel_format = decoder.format().descriptor().map(|d| d.name().to_owned());
    let transfer = decoder.color_transfer_characteristic();
    Some(VideoStream {
        index: stream.index(),
        codec: codec_name.to_owned(),
        width,
        height,
        fps: rate(stream.rate()),
        avg_fps: rate(stream.avg_frame_rate()),
        duration_seconds: stream_duration(stream),
        bitrate_bps: bitrate(stream, decoder.bit_rate()),
        rotation: rotation(stream),
        bit_depth: pixel_format.as_deref().and_then(bit_depth),
        pixel_format,
        color_space: space_name(decoder.color_space()),
        color_transfer: transfer_name(transfer),
        color_primaries: primaries_name(decoder.color_primaries()),
        is_hdr: matches!(
            transfer,
            TransferCharacteristic::SMPTE2084 | TransferCharacteristic::ARIB_STD_B67
        ),
    })
}

fn describe_audio(
    stream: &Stream,
    decoder: &decoder::Audio,
    codec_name: &str,
) -> Option<AudioStream> {
    let (sample_rate, channels) = (decoder.rate(), decoder.channels());
    if sample_rate == 0 || channels == 0 {
        return None;
    }
    let language = stream
        .metadata()
        .get("language")
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && *l != "und" && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned);
    Some(AudioStream {
        index: stream.index(),
        codec: codec_name.to_owned(),
        sample_rate,
        channels,
        channel_layout: channel_layout_name(decoder.channel_layout(), channels).map(str::to_owned),
        bitrate_bps: bitrate(stream, decoder.bit_rate()),
        language,
        duration_seconds: stream_duration(stream),
    })
}

fn positive(value: i64) -> Option<i64> {
    // AV_NOPTS_VALUE (i64::MIN) and 0 both mean "unknown" here.
    (value > 0).then_some(value)
}

fn rate(r: Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r))
}

fn stream_duration(stream: &Stream) -> Option<f64> {
    let tb = stream.time_base();
    let from_stream = (tb.numerator() > 0 && tb.denominator() > 0)
        .then(|| positive(stream.duration()))
        .flatten()
        .map(|d| d as f64 * f64::from(tb));
    // Matroska has no per-track duration; its writers leave a tag instead.
    from_stream.or_else(|| stream.metadata().get("DURATION").and_then(parse_clock))
}

/// "01:02:03.500000000" (hours, minutes, seconds) in seconds.
fn parse_clock(text: &str) -> Option<f64> {
    let mut parts = text
        .trim()
        .split(':')
        .map(|p| p.parse::<f64>().ok().filter(|v| *v >= 0.0));
    let (hours, minutes, seconds) = (parts.next()??, parts.next()??, parts.next()??);
    let total = hours * 3600.0 + minutes * 60.0 + seconds;
    (parts.next().is_none() && total.is_finite() && total > 0.0).then_some(total)
}

fn bitrate(stream: &Stream, from_codec: usize) -> Option<u64> {
    if from_codec > 0 {
        return Some(from_codec as u64);
    }
    // mkvmerge writes per-track statistics tags instead.
    let metadata = stream.metadata();
    ["BPS", "BPS-eng"]
        .iter()
        .find_map(|key| metadata.get(key).and_then(|v| v.trim().parse::<u64>().ok()))
        .filter(|b| *b > 0)
}

fn rotation(stream: &Stream) -> i32 {
    for side_data in stream.side_data() {
        if side_data.kind() == SideDataType::DisplayMatrix {
            if let Some(r) = rotation_from_display_matrix(side_data.data()) {
                return r;
            }
        }
    }
    stream
        .metadata()
        .get("rotate")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .map_or(0, normalize_rotation)
}

/// Degrees clockwise to display upright, from a libav display matrix (nine native-endian
/// i32, 16.16 fixed point in the rotation part). The matrix rotates the picture
/// counter-clockwise by `av_display_rotation_get()` degrees; the ffmpeg CLI turns the picture
/// clockwise by the negation, and so do we.
fn rotation_from_display_matrix(data: &[u8]) -> Option<i32> {
    if data.len() < 36 {
        return None;
    }
    let m = |i: usize| {
        let b = [
            data[i * 4],
            data[i * 4 + 1],
            data[i * 4 + 2],
            data[i * 4 + 3],
        ];
        f64::from(i32::from_ne_bytes(b)) / 65536.0
    };
    let scale0 = m(0).hypot(m(3));
    let scale1 = m(1).hypot(m(4));
    if scale0 == 0.0 || scale1 == 0.0 {
        return None;
    }
    let degrees = (m(1) / scale1).atan2(m(0) / scale0).to_degrees();
    Some(normalize_rotation(degrees))
}

/// To the nearest quarter turn, in 0..360.
fn normalize_rotation(degrees: f64) -> i32 {
    let quarters = (degrees / 90.0).round() as i64;
    (quarters.rem_euclid(4) * 90) as i32
}

/// Bits per component from a pixel format name ("yuv420p10le" is 10).
fn bit_depth(pixel_format: &str) -> Option<u8> {
    let name = pixel_format
        .strip_suffix("le")
        .or_else(|| pixel_format.strip_suffix("be"))
        .unwrap_or(pixel_format);
    let digits_at_end = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, digits) = name.split_at(name.len() - digits_at_end);
    // Semi-planar "p010", "p016", "p210", "p416": the last two digits are the depth.
    if stem == "p" && digits.len() == 3 {
        return digits[1..].parse().ok();
    }
    if stem.ends_with('p') && !digits.is_empty() {
        return digits.parse().ok(); // planar: yuv420p10, gbrap12
    }
    match name {
        n if n.ends_with('p') => Some(8), // yuv420p, yuvj444p, gbrp
        "gray" | "ya8" | "nv12" | "nv21" | "nv16" | "nv24" | "nv42" | "rgb24" | "bgr24"
        | "rgba" | "bgra" | "argb" | "abgr" | "0rgb" | "rgb0" | "0bgr" | "bgr0" | "pal8"
        | "yuyv422" | "uyvy422" | "yvyu422" => Some(8),
        "x2rgb10" | "x2bgr10" | "y210" | "nv20" | "xv30" => Some(10),
        "y212" | "xyz12" | "xv36" => Some(12),
        "rgb48" | "bgr48" | "rgba64" | "bgra64" | "ya16" => Some(16),
        n if n.starts_with("gray") => digits.parse().ok(),
        _ => None,
    }
}

fn space_name(space: Space) -> Option<String> {
    match space {
        Space::Unspecified | Space::Reserved => None,
        other => other.name().map(str::to_owned),
    }
}

fn transfer_name(transfer: TransferCharacteristic) -> Option<String> {
    match transfer {
        TransferCharacteristic::Unspecified
        | TransferCharacteristic::Reserved
        | TransferCharacteristic::Reserved0 => None,
        other => other.name().map(str::to_owned),
    }
}

fn primaries_name(primaries: Primaries) -> Option<String> {
    match primaries {
        Primaries::Unspecified | Primaries::Reserved | Primaries::Reserved0 => None,
        other => other.name().map(str::to_owned),
    }
}

/// FFmpeg's names for the standard layouts.
fn channel_layout_name(layout: ChannelLayout, channels: u16) -> Option<&'static str> {
    const NAMES: &[(ChannelLayout, &str)] = &[
        (ChannelLayout::MONO, "mono"),
        (ChannelLayout::STEREO, "stereo"),
        (ChannelLayout::_2POINT1, "2.1"),
        (ChannelLayout::SURROUND, "3.0"),
        (ChannelLayout::_2_1, "3.0(back)"),
        (ChannelLayout::_4POINT0, "4.0"),
        (ChannelLayout::QUAD, "quad"),
        (ChannelLayout::_2_2, "quad(side)"),
        (ChannelLayout::_3POINT1, "3.1"),
        (ChannelLayout::_5POINT0_BACK, "5.0"),
        (ChannelLayout::_5POINT0, "5.0(side)"),
        (ChannelLayout::_4POINT1, "4.1"),
        (ChannelLayout::_5POINT1_BACK, "5.1"),
        (ChannelLayout::_5POINT1, "5.1(side)"),
        (ChannelLayout::_6POINT0, "6.0"),
        (ChannelLayout::_6POINT0_FRONT, "6.0(front)"),
        (ChannelLayout::HEXAGONAL, "hexagonal"),
        (ChannelLayout::_6POINT1, "6.1"),
        (ChannelLayout::_6POINT1_BACK, "6.1(back)"),
        (ChannelLayout::_6POINT1_FRONT, "6.1(front)"),
        (ChannelLayout::_7POINT0, "7.0"),
        (ChannelLayout::_7POINT0_FRONT, "7.0(front)"),
        (ChannelLayout::_7POINT1, "7.1"),
        (ChannelLayout::_7POINT1_WIDE_BACK, "7.1(wide)"),
        (ChannelLayout::_7POINT1_WIDE, "7.1(wide-side)"),
        (ChannelLayout::OCTAGONAL, "octagonal"),
        (ChannelLayout::HEXADECAGONAL, "hexadecagonal"),
        (ChannelLayout::STEREO_DOWNMIX, "downmix"),
    ];
    if layout.is_empty() {
        // An unspecified order: FFmpeg assumes the default layout for one or two channels.
        return match channels {
            1 => Some("mono"),
            2 => Some("stereo"),
            _ => None,
        };
    }
    NAMES
        .iter()
        .find(|(l, _)| *l == layout)
        .map(|(_, name)| *name)
}

/// The short container name from libav's demuxer name and the sniffed type.
fn container_name(demuxer: &str, mime_type: &str) -> String {
    let name = match demuxer {
        "mov,mp4,m4a,3gp,3g2,mj2" => match mime_type {
            "video/quicktime" => "mov",
            "video/3gpp" | "video/3gpp2" => "3gp",
            _ => "mp4",
        },
        "matroska,webm" if mime_type == "video/webm" => "webm",
        "matroska,webm" => "matroska",
        other => other.split(',').next().unwrap_or(other),
    };
    name.to_owned()
}

/// The final kind, and the MIME type that says it (audio-only MP4 is "audio/mp4").
fn refine_mime(mime_type: &str, has_video: bool) -> (MediaKind, &str) {
    if has_video {
        let mime = match mime_type {
            "audio/mp4" => "video/mp4",
            "audio/ogg" => "video/ogg",
            "audio/webm" => "video/webm",
            other => other,
        };
        (MediaKind::Video, mime)
    } else {
        let mime = match mime_type {
            "video/mp4" | "video/quicktime" => "audio/mp4",
            "video/3gpp" => "audio/3gpp",
            "video/3gpp2" => "audio/3gpp2",
            "video/webm" => "audio/webm",
            "video/x-matroska" => "audio/x-matroska",
            "video/ogg" => "audio/ogg",
            "video/x-ms-asf" => "audio/x-ms-wma",
            other => other,
        };
        (MediaKind::Audio, mime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(values: [i32; 9]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn display_matrix_rotation_is_clockwise_degrees() {
        let one = 1 << 16;
        let w = 1 << 30;
        assert_eq!(
            rotation_from_display_matrix(&matrix([one, 0, 0, 0, one, 0, 0, 0, w])),
            Some(0)
        );
        // What a phone writes for a portrait video: turn 90 degrees clockwise to view.
        assert_eq!(
            rotation_from_display_matrix(&matrix([0, one, 0, -one, 0, 0, 0, 0, w])),
            Some(90)
        );
        assert_eq!(
            rotation_from_display_matrix(&matrix([0, -one, 0, one, 0, 0, 0, 0, w])),
            Some(270)
        );
        assert_eq!(
            rotation_from_display_matrix(&matrix([-one, 0, 0, 0, -one, 0, 0, 0, w])),
            Some(180)
        );
        assert_eq!(rotation_from_display_matrix(&matrix([0; 9])), None);
        assert_eq!(rotation_from_display_matrix(&[0; 12]), None);
    }

    #[test]
    fn clock_durations() {
        assert_eq!(parse_clock("00:00:02.040000000"), Some(2.04));
        assert_eq!(parse_clock("01:02:03.5"), Some(3723.5));
        assert_eq!(parse_clock("00:00:00.000000000"), None);
        assert_eq!(parse_clock("2.0"), None);
        assert_eq!(parse_clock("00:-1:00"), None);
        assert_eq!(parse_clock("00:00:inf"), None);
        assert_eq!(parse_clock("1:2:3:4"), None);
    }

    #[test]
    fn rotation_normalises_to_quarter_turns() {
        assert_eq!(normalize_rotation(0.0), 0);
        assert_eq!(normalize_rotation(-90.0), 270);
        assert_eq!(normalize_rotation(89.6), 90);
        assert_eq!(normalize_rotation(450.0), 90);
        assert_eq!(normalize_rotation(-180.0), 180);
        assert_eq!(normalize_rotation(360.0), 0);
    }

    #[test]
    fn bit_depth_from_pixel_format() {
        for (name, depth) in [
            ("yuv420p", Some(8)),
            ("yuvj420p", Some(8)),
            ("yuv420p10le", Some(10)),
            ("yuv422p12be", Some(12)),
            ("yuva444p16le", Some(16)),
            ("gbrp", Some(8)),
            ("gbrap10le", Some(10)),
            ("p010le", Some(10)),
            ("p016le", Some(16)),
            ("p210le", Some(10)),
            ("nv12", Some(8)),
            ("rgb24", Some(8)),
            ("rgba", Some(8)),
            ("rgb48be", Some(16)),
            ("gray", Some(8)),
            ("gray10le", Some(10)),
            ("x2rgb10le", Some(10)),
            ("vaapi", None),
        ] {
            assert_eq!(bit_depth(name), depth, "{name}");
        }
    }

    #[test]
    fn container_names() {
        let mov = "mov,mp4,m4a,3gp,3g2,mj2";
        assert_eq!(container_name(mov, "video/mp4"), "mp4");
        assert_eq!(container_name(mov, "audio/mp4"), "mp4");
        assert_eq!(container_name(mov, "video/quicktime"), "mov");
        assert_eq!(container_name("matroska,webm", "video/webm"), "webm");
        assert_eq!(
            container_name("matroska,webm", "video/x-matroska"),
            "matroska"
        );
        assert_eq!(container_name("mpegts", "video/mp2t"), "mpegts");
        assert_eq!(container_name("mp3", "audio/mpeg"), "mp3");
    }

    #[test]
    fn mime_follows_the_streams() {
        assert_eq!(
            refine_mime("video/mp4", false),
            (MediaKind::Audio, "audio/mp4")
        );
        assert_eq!(
            refine_mime("video/webm", false),
            (MediaKind::Audio, "audio/webm")
        );
        assert_eq!(
            refine_mime("audio/ogg", true),
            (MediaKind::Video, "video/ogg")
        );
        assert_eq!(
            refine_mime("audio/mp4", true),
            (MediaKind::Video, "video/mp4")
        );
        assert_eq!(
            refine_mime("video/mp4", true),
            (MediaKind::Video, "video/mp4")
        );
        assert_eq!(
            refine_mime("audio/mpeg", false),
            (MediaKind::Audio, "audio/mpeg")
        );
    }

    #[test]
    fn channel_layout_names() {
        assert_eq!(
            channel_layout_name(ChannelLayout::STEREO, 2),
            Some("stereo")
        );
        assert_eq!(
            channel_layout_name(ChannelLayout::_5POINT1, 6),
            Some("5.1(side)")
        );
        assert_eq!(channel_layout_name(ChannelLayout::empty(), 1), Some("mono"));
        assert_eq!(channel_layout_name(ChannelLayout::empty(), 6), None);
    }

    #[test]
    fn error_kinds() {
        assert!(is_system_error(&AvError::Other {
            errno: ffmpeg::error::ENOMEM
        }));
        assert!(!is_system_error(&AvError::InvalidData));
        assert_eq!(describe_error(&AvError::InvalidData), "its data is invalid");
    }
}
