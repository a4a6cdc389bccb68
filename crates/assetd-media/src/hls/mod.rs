//! HLS packaging: a VOD media playlist of MPEG-TS segments, and a master playlist over it.
//!
//! libavformat's `hls` muxer cuts the segments at keyframes and writes `index.m3u8`; the
//! master playlist is written here afterwards, from what the segments turned out to hold
//! (codec profile and level, bit rates). Packets stream from input to output, so memory does
//! not grow with the file; on an error the caller throws `out_dir` away.

mod audio;
mod playlist;
mod transcode;
mod video;

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ffmpeg::codec::profile::{Profile, AAC};
use ffmpeg::format::stream::Disposition;
use ffmpeg::{codec, encoder, format, media, Dictionary, Error as AvError, Packet, Rational};
use ffmpeg::{Rescale, Stream};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::probe::av::{describe_error, is_system_error, open};
use crate::{AudioStream, MediaError, MediaKind, VideoStream};
use playlist::{Segment, Variant};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HlsOptions {
    /// Target segment length; segments are cut at the first keyframe after each multiple.
    pub segment_seconds: f64,
    /// Taller video is scaled down to this height (aspect ratio kept), which means a transcode.
    pub max_height: u32,
}

impl Default for HlsOptions {
    fn default() -> Self {
        Self {
            segment_seconds: 6.0,
            max_height: 1080,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HlsMode {
    /// Video and audio copied as they are (H.264 8-bit 4:2:0, AAC or no audio).
    Remux,
    /// Video re-encoded to H.264 (audio re-encoded to AAC unless it already was).
    Transcode,
    /// No video: AAC audio, copied when the source is AAC.
    AudioOnly,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HlsOutput {
    pub mode: HlsMode,
    pub segments: u32,
    /// Sum of the segment durations.
    pub duration_seconds: f64,
    /// Size of the picture in the stream (after rotation and scaling); `None` for audio.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// The playlist a player opens first, in the output folder.
pub const MASTER_PLAYLIST: &str = "master.m3u8";
const MEDIA_PLAYLIST: &str = "index.m3u8";
const SEGMENT_PATTERN: &str = "seg_%05d.ts";
/// The muxer is asked for segments this much shorter than wanted. It cuts at the first
/// keyframe at or after each multiple, and a keyframe forced at a boundary must not miss its
/// cut by a rounding error in a time base.
const SEGMENT_MARGIN: f64 = 0.001;

/// Writes `master.m3u8`, `index.m3u8` and segments `seg_00000.ts`, ... into `out_dir`
/// (an existing empty directory the caller made; the caller renames it into place after success,
/// so a reader never sees a half-written stream).
pub fn hls(input: &Path, out_dir: &Path, options: &HlsOptions) -> Result<HlsOutput, MediaError> {
    crate::init();
    // No input may take the process down with a panic: the caller needs a typed answer.
    catch_unwind(AssertUnwindSafe(|| package(input, out_dir, options)))
        .unwrap_or_else(|_| Err(MediaError::system("HLS packaging failed unexpectedly.")))
}

fn package(input: &Path, out_dir: &Path, options: &HlsOptions) -> Result<HlsOutput, MediaError> {
    check_options(options)?;
    let out_dir = output_dir(out_dir)?;
    let probe = crate::probe(input)?;
    if probe.kind == MediaKind::Image {
        return Err(MediaError::unsupported(
            "The file is an image; only video and audio can be streamed.",
        ));
    }
    let mut ictx = open(input).map_err(|e| read_error(&e))?;
    let video_info = probe.video_streams.first();
    let audio_info = pick_audio(&ictx, &probe.audio_streams);
    let chosen: Vec<usize> = (video_info.map(|v| v.index))
        .into_iter()
        .chain(audio_info.map(|a| a.index))
        .collect();
    if chosen.is_empty() {
        return Err(MediaError::unsupported(
            "The file contains no video or audio stream that can be played.",
        ));
    }
    let offset = start_offset(&ictx, &chosen);

    let playlist_path = out_dir.join(MEDIA_PLAYLIST);
    let mut octx = format::output_as(&playlist_path, "hls")
        .map_err(|e| system("The HLS output could not be created", &e))?;
    let mut jobs = Vec::new();
    if let Some(info) = video_info {
        jobs.push(video_job(&ictx, info, options, offset, &mut octx)?);
    }
    let audio_codec = match audio_info {
        Some(info) => {
            let (job, codec) = audio_job(&ictx, info, offset, &mut octx)?;
            jobs.push(job);
            Some(codec)
        }
        None => None,
    };
    mux(&mut ictx, octx, &mut jobs, muxer_options(&out_dir, options))?;

    // The muxer's segment lengths are differences of keyframe timestamps, but the last one is
    // its packets' durations summed, which for a copied stream of variable frame rate are
    // often nominal; it is what remains of the reference stream's span (video, else audio)
    // from its timestamps, and the media playlist is written anew.
    let mut segments = read_segments(&out_dir)?;
    let video = jobs.iter().find(|j| j.is_video());
    if let Some(span) = video
        .or(jobs.first())
        .and_then(|j| j.target_ref().seconds())
    {
        playlist::settle_last_duration(&mut segments, span);
    }
    fs::write(&playlist_path, playlist::media_playlist(&segments)).map_err(|e| {
        MediaError::system(format!("The media playlist could not be written: {e}."))
    })?;

    let mode = match video {
        None => HlsMode::AudioOnly,
        Some(_) if jobs.iter().all(|j| matches!(j, Job::Copy(_))) => HlsMode::Remux,
        Some(_) => HlsMode::Transcode,
    };
    let resolution = video.map(Job::size);
    // A player wants profile and level before it loads a segment; they are read from the
    // parameter sets the segments carry, whoever encoded them.
    let video_codec = video
        .and_then(|_| segments.first())
        .and_then(|s| avc1_codec_of(&out_dir.join(&s.uri)));
    write_master(
        &out_dir,
        &segments,
        video_codec.into_iter().chain(audio_codec).collect(),
        resolution,
    )?;
    Ok(HlsOutput {
        mode,
        segments: segments.len() as u32,
        duration_seconds: segments.iter().map(|s| s.duration).sum(),
        width: resolution.map(|(w, _)| w),
        height: resolution.map(|(_, h)| h),
    })
}

/// Copies the video when players take it as it is, else re-encodes it.
fn video_job(
    ictx: &format::context::Input,
    info: &VideoStream,
    options: &HlsOptions,
    offset: i64,
    octx: &mut format::context::Output,
) -> Result<Job, MediaError> {
    let stream = input_stream(ictx, info.index)?;
    let copy = info.codec == "h264"
        && info.pixel_format.as_deref() == Some("yuv420p")
        && info.rotation == 0
        && info.height <= options.max_height;
    if copy {
        let size = Some((info.width, info.height));
        return Ok(Job::Copy(Copy::new(&stream, octx, offset, size)?));
    }
    let setup = video::Setup {
        options,
        info,
        global_header: wants_global_header(octx),
        offset,
    };
    let transcoder = video::Transcoder::new(&stream, &setup, octx)?;
    Ok(Job::Video(Box::new(transcoder)))
}

/// Copies AAC, re-encodes anything else; with the codec string for the master playlist.
fn audio_job(
    ictx: &format::context::Input,
    info: &AudioStream,
    offset: i64,
    octx: &mut format::context::Output,
) -> Result<(Job, String), MediaError> {
    let stream = input_stream(ictx, info.index)?;
    if info.codec == "aac" {
        let job = Job::Copy(Copy::new(&stream, octx, offset, None)?);
        return Ok((job, aac_codec_string(&stream)));
    }
    let global_header = wants_global_header(octx);
    let transcoder = audio::Transcoder::new(&stream, global_header, offset, octx)?;
    Ok((Job::Audio(Box::new(transcoder)), "mp4a.40.2".to_owned()))
}

fn wants_global_header(octx: &format::context::Output) -> bool {
    octx.format().flags().contains(format::Flags::GLOBAL_HEADER)
}

/// Streams every packet of the input through the jobs into the muxer, then flushes all.
fn mux(
    ictx: &mut format::context::Input,
    mut octx: format::context::Output,
    jobs: &mut [Job],
    muxer_options: Dictionary,
) -> Result<(), MediaError> {
    let unused: Option<String> = octx
        .write_header_with(muxer_options)
        .map_err(|e| system("The HLS output could not be started", &e))?
        .iter()
        .next()
        .map(|(key, _)| key.to_owned());
    if let Some(key) = unused {
        return Err(MediaError::system(format!(
            "The HLS muxer of this FFmpeg does not know the option {key}."
        )));
    }
    for job in jobs.iter_mut() {
        let target = job.target();
        target.time_base = octx
            .stream(target.index)
            .map(|s| s.time_base())
            .ok_or_else(|| MediaError::system("The HLS output lost a stream."))?;
    }
    loop {
        // A fresh packet each time, as av_read_frame wants; written ones are taken anyway.
        let mut packet = Packet::empty();
        match packet.read(ictx) {
            Ok(()) => {}
            Err(AvError::Eof) => break,
            Err(e) => return Err(read_error(&e)),
        }
        if let Some(job) = jobs.iter_mut().find(|j| j.input() == packet.stream()) {
            job.packet(&mut packet, &mut octx)?;
        }
    }
    for job in jobs.iter_mut() {
        job.finish(&mut octx)?;
    }
    octx.write_trailer()
        .map_err(|e| system("The HLS output could not be finished", &e))?;
    match jobs.iter().find(|j| j.written() == 0) {
        Some(job) => Err(job.nothing_written()),
        None => Ok(()),
    }
}

fn write_master(
    out_dir: &Path,
    segments: &[Segment],
    codecs: Vec<String>,
    resolution: Option<(u32, u32)>,
) -> Result<(), MediaError> {
    let mut sizes = Vec::with_capacity(segments.len());
    for segment in segments {
        let bytes = fs::metadata(out_dir.join(&segment.uri))
            .map_err(|e| MediaError::system(format!("A segment could not be read back: {e}.")))?
            .len();
        sizes.push((segment.duration, bytes));
    }
    let (bandwidth, average_bandwidth) = playlist::bandwidths(&sizes);
    let master = playlist::master_playlist(&Variant {
        bandwidth,
        average_bandwidth,
        codecs,
        resolution,
        uri: MEDIA_PLAYLIST,
    });
    fs::write(out_dir.join(MASTER_PLAYLIST), master)
        .map_err(|e| MediaError::system(format!("The master playlist could not be written: {e}.")))
}

fn check_options(options: &HlsOptions) -> Result<(), MediaError> {
    let seconds_ok =
        options.segment_seconds.is_finite() && (1.0..=60.0).contains(&options.segment_seconds);
    if !seconds_ok || !(16..=8192).contains(&options.max_height) {
        return Err(MediaError::system(format!(
            "Invalid HLS options: {options:?} (segments of 1 to 60 s, a height of 16 to 8192)."
        )));
    }
    Ok(())
}

/// The absolute form of `out_dir`, which must exist and be empty: the playlists name every
/// file in it, and a leftover would be served as if it belonged to the stream.
fn output_dir(out_dir: &Path) -> Result<PathBuf, MediaError> {
    let cannot = |e: std::io::Error| {
        MediaError::system(format!("The HLS output folder could not be used: {e}."))
    };
    let dir = fs::canonicalize(out_dir).map_err(cannot)?;
    if fs::read_dir(&dir).map_err(cannot)?.next().is_some() {
        return Err(MediaError::system("The HLS output folder is not empty."));
    }
    // libav takes paths as UTF-8 C strings, and the segment name is a printf-like pattern.
    match dir.to_str() {
        Some(s) if !s.contains('%') => Ok(dir),
        _ => Err(MediaError::system(
            "The HLS output folder's path is not UTF-8 or contains '%'.",
        )),
    }
}

fn muxer_options<'a>(out_dir: &Path, options: &HlsOptions) -> Dictionary<'a> {
    let mut dict = Dictionary::new();
    dict.set(
        "hls_time",
        &format!("{:.6}", options.segment_seconds - SEGMENT_MARGIN),
    );
    dict.set("hls_playlist_type", "vod");
    dict.set("hls_segment_type", "mpegts");
    dict.set("hls_list_size", "0");
    dict.set("hls_flags", "independent_segments");
    dict.set(
        "hls_segment_filename",
        &out_dir.join(SEGMENT_PATTERN).to_string_lossy(),
    );
    dict
}

/// The default audio stream, else the first.
fn pick_audio<'a>(
    ictx: &format::context::Input,
    streams: &'a [AudioStream],
) -> Option<&'a AudioStream> {
    let is_default = |info: &&AudioStream| {
        ictx.stream(info.index)
            .is_some_and(|s| s.disposition().contains(Disposition::DEFAULT))
    };
    streams.iter().find(is_default).or(streams.first())
}

fn input_stream(ictx: &format::context::Input, index: usize) -> Result<Stream<'_>, MediaError> {
    ictx.stream(index)
        .ok_or_else(|| MediaError::system("A stream of the file disappeared."))
}

/// The earliest start of the streams used, in microseconds: subtracted from every timestamp
/// so that the stream starts near zero, as the ffmpeg CLI does.
fn start_offset(ictx: &format::context::Input, streams: &[usize]) -> i64 {
    streams
        .iter()
        .filter_map(|&i| ictx.stream(i))
        .filter(|s| s.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE && valid(s.time_base()))
        .map(|s| s.start_time().rescale(s.time_base(), MICROSECONDS))
        .min()
        .unwrap_or(0)
}

const MICROSECONDS: Rational = Rational(1, 1_000_000);

fn valid(time_base: Rational) -> bool {
    time_base.numerator() > 0 && time_base.denominator() > 0
}

/// The time base of `stream` (`subject` in a message), which must be valid.
fn stream_time_base(stream: &Stream, subject: &str) -> Result<Rational, MediaError> {
    let time_base = stream.time_base();
    if !valid(time_base) {
        return Err(MediaError::invalid_input(format!(
            "{subject} of the file has no valid time base; the file is probably corrupt."
        )));
    }
    Ok(time_base)
}

fn aac_codec_string(stream: &Stream) -> String {
    let profile = codec::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().audio())
        .map(|d| d.profile());
    let object_type = match profile {
        Ok(Profile::AAC(AAC::HE | AAC::MPEG2HE)) => 5,
        Ok(Profile::AAC(AAC::HEv2)) => 29,
        _ => 2,
    };
    format!("mp4a.40.{object_type}")
}

fn read_segments(out_dir: &Path) -> Result<Vec<Segment>, MediaError> {
    let text = fs::read_to_string(out_dir.join(MEDIA_PLAYLIST)).map_err(|e| {
        MediaError::system(format!("The media playlist could not be read back: {e}."))
    })?;
    let segments = playlist::parse_media_playlist(&text).map_err(|problem| {
        MediaError::system(format!(
            "The media playlist written is unusable: {problem}."
        ))
    })?;
    if segments.is_empty() {
        return Err(MediaError::invalid_input(
            "The file holds no playable video or audio; it is probably corrupt or truncated.",
        ));
    }
    for segment in &segments {
        if !out_dir.join(&segment.uri).is_file() {
            return Err(MediaError::system(format!(
                "The segment {} named in the playlist was not written.",
                segment.uri
            )));
        }
    }
    Ok(segments)
}

/// The `avc1` codec string of the first video packet of a segment we wrote.
fn avc1_codec_of(segment: &Path) -> Option<String> {
    let mut ictx = open(segment).ok()?;
    let video = ictx.streams().best(media::Type::Video)?.index();
    for _ in 0..10_000 {
        let mut packet = Packet::empty();
        packet.read(&mut ictx).ok()?;
        if packet.stream() == video {
            return packet.data().and_then(playlist::avc1_codec);
        }
    }
    None
}

/// An output stream and what has gone into it.
struct Target {
    index: usize,
    /// The output stream's, known once the header is written.
    time_base: Rational,
    written: u64,
    /// Timestamp of the first packet written, and the latest end of one (pts + duration).
    span: Option<(i64, i64)>,
}

impl Target {
    /// Adds an output stream of `parameters` whose packets come in `time_base`.
    fn add(
        octx: &mut format::context::Output,
        codec: impl codec::traits::Encoder,
        parameters: impl Into<codec::Parameters>,
        time_base: Rational,
    ) -> Result<Self, MediaError> {
        let mut ost = octx
            .add_stream(codec)
            .map_err(|e| system("An output stream could not be added", &e))?;
        ost.set_parameters(parameters);
        ost.set_time_base(time_base);
        Ok(Self {
            index: ost.index(),
            time_base: Rational(1, 90_000),
            written: 0,
            span: None,
        })
    }

    /// Writes a packet whose timestamps are in `from`.
    fn write(
        &mut self,
        packet: &mut Packet,
        from: Rational,
        octx: &mut format::context::Output,
    ) -> Result<(), AvError> {
        packet.set_stream(self.index);
        packet.rescale_ts(from, self.time_base);
        packet.set_position(-1);
        if let Some(pts) = packet.pts() {
            let end = pts.saturating_add(packet.duration().max(0));
            let (first, last) = self.span.unwrap_or((pts, end));
            self.span = Some((first, last.max(end)));
        }
        packet.write_interleaved(octx)?;
        self.written += 1;
        Ok(())
    }

    /// Seconds from the start of the first packet written to the end of the last.
    fn seconds(&self) -> Option<f64> {
        let (first, end) = self.span?;
        Some(end.saturating_sub(first) as f64 * f64::from(self.time_base))
    }
}

enum Job {
    Copy(Copy),
    Video(Box<video::Transcoder>),
    Audio(Box<audio::Transcoder>),
}

impl Job {
    fn input(&self) -> usize {
        match self {
            Job::Copy(c) => c.input,
            Job::Video(v) => v.input,
            Job::Audio(a) => a.input,
        }
    }

    fn target(&mut self) -> &mut Target {
        match self {
            Job::Copy(c) => &mut c.target,
            Job::Video(v) => &mut v.target,
            Job::Audio(a) => &mut a.target,
        }
    }

    fn target_ref(&self) -> &Target {
        match self {
            Job::Copy(c) => &c.target,
            Job::Video(v) => &v.target,
            Job::Audio(a) => &a.target,
        }
    }

    fn written(&self) -> u64 {
        self.target_ref().written
    }

    fn is_video(&self) -> bool {
        match self {
            Job::Copy(c) => c.video_size.is_some(),
            Job::Video(_) => true,
            Job::Audio(_) => false,
        }
    }

    fn size(&self) -> (u32, u32) {
        match self {
            Job::Copy(c) => c.video_size.unwrap_or_default(),
            Job::Video(v) => v.size(),
            Job::Audio(_) => (0, 0),
        }
    }

    fn packet(
        &mut self,
        packet: &mut Packet,
        octx: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        match self {
            Job::Copy(c) => c.packet(packet, octx),
            Job::Video(v) => v.packet(packet, octx),
            Job::Audio(a) => a.packet(packet, octx),
        }
    }

    fn finish(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        match self {
            Job::Copy(_) => Ok(()),
            Job::Video(v) => v.finish(octx),
            Job::Audio(a) => a.finish(octx),
        }
    }

    fn nothing_written(&self) -> MediaError {
        let what = if self.is_video() { "video" } else { "audio" };
        MediaError::invalid_input(format!(
            "The {what} stream of the file could not be decoded; the file is probably corrupt."
        ))
    }
}

/// A stream copied packet by packet.
struct Copy {
    input: usize,
    time_base: Rational,
    /// [`start_offset`] in the stream's time base.
    offset: i64,
    video_size: Option<(u32, u32)>,
    target: Target,
}

impl Copy {
    fn new(
        stream: &Stream,
        octx: &mut format::context::Output,
        offset_us: i64,
        video_size: Option<(u32, u32)>,
    ) -> Result<Self, MediaError> {
        let time_base = stream_time_base(stream, "A stream")?;
        let no_codec = encoder::find(codec::Id::None);
        let target = Target::add(octx, no_codec, stream.parameters(), time_base)?;
        Ok(Self {
            input: stream.index(),
            time_base,
            offset: offset_us.rescale(MICROSECONDS, time_base),
            video_size,
            target,
        })
    }

    fn packet(
        &mut self,
        packet: &mut Packet,
        octx: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        packet.set_pts(packet.pts().map(|t| t.saturating_sub(self.offset)));
        packet.set_dts(packet.dts().map(|t| t.saturating_sub(self.offset)));
        self.target
            .write(packet, self.time_base, octx)
            .map_err(|e| copy_error(&e))
    }
}

fn system(what: &str, error: &AvError) -> MediaError {
    MediaError::system(format!("{what}: {error}."))
}

fn read_error(error: &AvError) -> MediaError {
    if is_system_error(error) {
        return system("The file could not be read", error);
    }
    MediaError::invalid_input(format!(
        "The file could not be read: {}; it is probably corrupt or truncated.",
        describe_error(error)
    ))
}

/// The muxer refused a copied packet, as it came from the file (damaged data, timestamps
/// going backwards).
fn copy_error(error: &AvError) -> MediaError {
    if is_system_error(error) {
        return system("A segment could not be written", error);
    }
    MediaError::invalid_input(format!(
        "The file could not be repackaged for streaming: {}; it is probably corrupt.",
        describe_error(error)
    ))
}
