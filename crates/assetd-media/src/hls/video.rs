//! Video re-encoding: decoder → filter graph (rotation, scaling, tone mapping) → libx264.
//!
//! Frames keep the decoder's timestamps (best effort) all the way to the encoder, so variable
//! frame rates stay in sync with the audio; nothing is derived from counting frames.

use std::collections::BTreeMap;

use ffmpeg::codec::threading;
use ffmpeg::color::{Primaries, Range, Space, TransferCharacteristic};
use ffmpeg::{codec, decoder, encoder, format, frame, picture, Dictionary, Packet, Rational};
use ffmpeg::{Rescale, Stream};
use ffmpeg_next as ffmpeg;

use super::transcode::{self, Filters, Graph};
use super::{stream_time_base, system, valid, HlsOptions, Target};
use super::{MICROSECONDS, SEGMENT_MARGIN};
use crate::{MediaError, VideoStream};

/// What a transcoder is made from besides the stream itself.
pub(super) struct Setup<'a> {
    pub(super) options: &'a HlsOptions,
    pub(super) info: &'a VideoStream,
    pub(super) global_header: bool,
    /// Subtracted from all timestamps, in microseconds.
    pub(super) offset: i64,
}

pub(super) struct Transcoder {
    pub(super) input: usize,
    pub(super) target: Target,
    /// The input stream's; also the decoder's, the filters' and the encoder's.
    time_base: Rational,
    offset: i64,
    decoder: decoder::Video,
    decoded: frame::Video,
    /// The filters between the buffer source and the sink.
    chain: String,
    /// Built for the first frame, and again if the frames change size or format.
    filters: Filters<(u32, u32, format::Pixel), frame::Video>,
    output: Output,
    last_pts: Option<i64>,
}

impl Transcoder {
    pub(super) fn new(
        stream: &Stream,
        setup: &Setup,
        octx: &mut format::context::Output,
    ) -> Result<Self, MediaError> {
        let Setup {
            options,
            info,
            global_header,
            offset,
        } = *setup;
        let time_base = stream_time_base(stream, "The video stream")?;
        let decoder = transcode::open_decoder(stream, time_base, "video", |mut d| {
            d.set_threading(all_cores());
            d.video()
        })?;

        let size = output_size(
            (decoder.width(), decoder.height()),
            decoder.aspect_ratio(),
            info.rotation,
            options.max_height,
        );
        let rate = frame_rate(stream);
        let hdr = hdr_input(&decoder);
        let chain = filter_chain(info.rotation, size, hdr.as_deref());

        let codec = encoder::find_by_name("libx264")
            .ok_or_else(|| MediaError::system("The H.264 encoder (libx264) is not available."))?;
        let mut encoder = codec::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| system("The H.264 encoder could not be set up", &e))?;
        encoder.set_width(size.0);
        encoder.set_height(size.1);
        encoder.set_format(format::Pixel::YUV420P);
        encoder.set_aspect_ratio(Rational(1, 1));
        encoder.set_color_range(Range::MPEG);
        encoder.set_time_base(time_base);
        encoder.set_frame_rate(Some(rate));
        // Keyframes are forced at segment boundaries (by time, see KeySchedule); the GOP length
        // only bounds them for constant frame rates, where the two agree.
        let gop = (options.segment_seconds * f64::from(rate)).round();
        encoder.set_gop(gop.clamp(1.0, 1000.0) as u32);
        encoder.set_threading(all_cores());
        if global_header {
            encoder.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let x264_options = x264_options(&decoder, hdr.is_some());
        let encoder = encoder
            .open_as_with(codec, x264_options)
            .map_err(|e| system("The H.264 encoder could not be opened", &e))?;

        let target = Target::add(octx, codec, &encoder, time_base)?;
        let frame_step = 1.rescale(rate.invert(), time_base).max(1);
        Ok(Self {
            input: stream.index(),
            target,
            time_base,
            offset: offset.rescale(MICROSECONDS, time_base),
            decoder,
            decoded: frame::Video::empty(),
            chain,
            filters: Filters::new(frame::Video::empty),
            output: Output {
                encoder,
                time_base,
                size,
                keys: KeySchedule::new(options.segment_seconds),
                frame_step,
                durations: Durations::new(frame_step),
            },
            last_pts: None,
        })
    }

    /// The picture size of the stream made.
    pub(super) fn size(&self) -> (u32, u32) {
        self.output.size
    }

    pub(super) fn packet(
        &mut self,
        packet: &Packet,
        octx: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        transcode::send_packet(&mut self.decoder, Some(packet), "video")?;
        self.receive_frames(octx)
    }

    pub(super) fn finish(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        transcode::send_packet(&mut self.decoder, None, "video")?;
        self.receive_frames(octx)?;
        let (output, target) = (&mut self.output, &mut self.target);
        self.filters
            .flush(|filtered, from| output.encode(filtered, from, target, octx))?;
        output.send(None, target, octx)
    }

    fn receive_frames(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        let mut errors = 0;
        while transcode::receive(&mut self.decoder, &mut self.decoded, &mut errors, "video")? {
            if let Some(pts) = self.next_pts() {
                self.decoded.set_pts(Some(pts));
                self.filter(octx)?;
            }
        }
        Ok(())
    }

    /// The decoded frame's timestamp, or `None` to drop a frame that does not move time
    /// forward (the encoder and muxer need strictly increasing timestamps).
    fn next_pts(&mut self) -> Option<i64> {
        let pts = match self.decoded.timestamp() {
            Some(ts) => ts.saturating_sub(self.offset),
            None => self
                .last_pts
                .map_or(0, |last| last + self.output.frame_step),
        };
        if self.last_pts.is_some_and(|last| pts <= last) {
            return None;
        }
        self.last_pts = Some(pts);
        Some(pts)
    }

    fn filter(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        let input = (
            self.decoded.width(),
            self.decoded.height(),
            self.decoded.format(),
        );
        let (aspect, time_base) = (self.decoded.aspect_ratio(), self.time_base);
        let build = || graph(input, aspect, time_base, &self.chain);
        let (output, target) = (&mut self.output, &mut self.target);
        self.filters
            .filter(&self.decoded, input, build, |filtered, from| {
                output.encode(filtered, from, target, octx)
            })
    }
}

/// The graph for frames of `input`: width, height and pixel format.
fn graph(
    input: (u32, u32, format::Pixel),
    aspect: Rational,
    time_base: Rational,
    chain: &str,
) -> Result<Graph, MediaError> {
    let (width, height, pixel) = input;
    let pixel_name = pixel.descriptor().map(|d| d.name()).ok_or_else(|| {
        MediaError::invalid_input(
            "The video stream of the file decodes to no known picture format; the file is \
             probably corrupt.",
        )
    })?;
    let aspect = if valid(aspect) {
        aspect
    } else {
        Rational(1, 1)
    };
    let args = format!(
        "video_size={width}x{height}:pix_fmt={pixel_name}:time_base={}/{}:pixel_aspect={}/{}",
        time_base.numerator(),
        time_base.denominator(),
        aspect.numerator(),
        aspect.denominator()
    );
    Graph::new("video", ("buffer", "buffersink"), &args, chain)
}

/// The encoding end, which filtered frames go into.
struct Output {
    encoder: encoder::video::Encoder,
    time_base: Rational,
    size: (u32, u32),
    keys: KeySchedule,
    /// A frame's nominal length, for frames without a timestamp.
    frame_step: i64,
    durations: Durations,
}

impl Output {
    /// Encodes `filtered`, whose timestamp is in `from`.
    fn encode(
        &mut self,
        filtered: &mut frame::Video,
        from: Rational,
        target: &mut Target,
        octx: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        let Some(pts) = filtered.pts() else {
            return Ok(());
        };
        let pts = pts.rescale(from, self.time_base);
        filtered.set_pts(Some(pts));
        // Decoders mark the source's picture types, which libx264 would obey.
        let kind = if self.keys.is_due(pts as f64 * f64::from(self.time_base)) {
            picture::Type::I
        } else {
            picture::Type::None
        };
        filtered.set_kind(kind);
        self.durations.sent(pts);
        self.send(Some(filtered), target, octx)
    }

    /// Sends the encoder a frame, or the end with `None`, and writes what it has ready.
    fn send(
        &mut self,
        frame: Option<&frame::Video>,
        target: &mut Target,
        octx: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        let frame = frame.map(|f| &**f);
        let durations = &mut self.durations;
        transcode::encode(
            &mut self.encoder,
            frame,
            "H.264",
            self.time_base,
            target,
            octx,
            |packet| {
                packet.set_duration(durations.take(packet.pts()));
            },
        )
    }
}

/// Each frame's length, known from the next frame's timestamp, kept until the frame's packet
/// leaves the encoder. libx264 gives packets no duration, and the muxer adds durations up into
/// the segment lengths of the playlist, so they must be the real ones when the rate varies.
#[derive(Debug)]
struct Durations {
    /// By timestamp.
    pending: BTreeMap<i64, i64>,
    /// The timestamp of the last frame sent, whose length is not known yet.
    last: Option<i64>,
    /// The last length known, taken for the final frame.
    latest: i64,
}

impl Durations {
    /// Frames the encoder may hold at once, and more.
    const MAX_PENDING: usize = 512;

    fn new(nominal: i64) -> Self {
        Self {
            pending: BTreeMap::new(),
            last: None,
            latest: nominal,
        }
    }

    fn sent(&mut self, pts: i64) {
        if let Some(previous) = self.last.replace(pts) {
            self.latest = pts - previous;
            self.pending.insert(previous, self.latest);
            if self.pending.len() > Self::MAX_PENDING {
                self.pending.pop_first();
            }
        }
    }

    fn take(&mut self, pts: Option<i64>) -> i64 {
        pts.and_then(|p| self.pending.remove(&p))
            .unwrap_or(self.latest)
    }
}

/// When to force a keyframe: at the first frame at or after each multiple of the segment
/// length from the first frame, so that every segment can start where the muxer cuts.
#[derive(Debug)]
struct KeySchedule {
    every: f64,
    origin: Option<f64>,
    next: f64,
}

impl KeySchedule {
    fn new(every: f64) -> Self {
        Self {
            every,
            origin: None,
            next: 0.0,
        }
    }

    fn is_due(&mut self, seconds: f64) -> bool {
        let Some(origin) = self.origin else {
            self.origin = Some(seconds);
            self.next = seconds + self.every;
            return true;
        };
        // Half the muxer's margin early still lands after its cut point.
        if seconds < self.next - SEGMENT_MARGIN / 2.0 {
            return false;
        }
        let done = ((seconds - origin + SEGMENT_MARGIN / 2.0) / self.every).floor();
        self.next = origin + (done + 1.0) * self.every;
        true
    }
}

fn all_cores() -> threading::Config {
    threading::Config {
        kind: threading::Type::Frame,
        count: 0,
        ..Default::default()
    }
}

/// The stream's frame rate, for the encoder's rate control and GOP length.
fn frame_rate(stream: &Stream) -> Rational {
    [stream.avg_frame_rate(), stream.rate()]
        .into_iter()
        .find(|r| valid(*r) && f64::from(*r) <= 1000.0)
        .unwrap_or(Rational(25, 1))
}

/// The output picture size: upright, square pixels, at most `max_height` tall (never scaled
/// up), even sides as 4:2:0 needs.
fn output_size(
    (width, height): (u32, u32),
    aspect: Rational,
    rotation: i32,
    max_height: u32,
) -> (u32, u32) {
    let aspect = if valid(aspect) {
        f64::from(aspect)
    } else {
        1.0
    };
    let (mut w, mut h) = (f64::from(width.max(1)) * aspect, f64::from(height.max(1)));
    if rotation == 90 || rotation == 270 {
        (w, h) = (h, w);
    }
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).clamp(2, 8192);
    let out_h = even(h.min(f64::from(max_height)) - 0.5);
    let out_w = even(w * f64::from(out_h) / h);
    (out_w, out_h)
}

/// zscale's reading of an HDR stream's colours (numbers as libav's enums), or `None` for SDR.
fn hdr_input(decoder: &decoder::Video) -> Option<String> {
    use ffmpeg::ffi::{AVColorPrimaries, AVColorSpace, AVColorTransferCharacteristic};
    let transfer = decoder.color_transfer_characteristic();
    if !matches!(
        transfer,
        TransferCharacteristic::SMPTE2084 | TransferCharacteristic::ARIB_STD_B67
    ) {
        return None;
    }
    // Untagged parts of an HDR stream are all but always BT.2020.
    let primaries = match decoder.color_primaries() {
        Primaries::Unspecified | Primaries::Reserved | Primaries::Reserved0 => Primaries::BT2020,
        other => other,
    };
    let matrix = match decoder.color_space() {
        Space::Unspecified | Space::Reserved => Space::BT2020NCL,
        other => other,
    };
    let range = if decoder.color_range() == Range::JPEG {
        "pc"
    } else {
        "tv"
    };
    Some(format!(
        "tin={}:pin={}:min={}:rin={range}",
        AVColorTransferCharacteristic::from(transfer) as i32,
        AVColorPrimaries::from(primaries) as i32,
        AVColorSpace::from(matrix) as i32,
    ))
}

/// The filters after the buffer source. `hdr` is [`hdr_input`]'s reading, for tone mapping to
/// SDR BT.709; scaling comes first so that the costly float conversions work on fewer pixels.
fn filter_chain(rotation: i32, (width, height): (u32, u32), hdr: Option<&str>) -> String {
    let mut filters: Vec<String> = Vec::new();
    match rotation {
        90 => filters.push("transpose=clock".to_owned()),
        180 => filters.push("hflip,vflip".to_owned()),
        270 => filters.push("transpose=cclock".to_owned()),
        _ => {}
    }
    match hdr {
        None => filters.push(format!("scale={width}:{height}:out_range=tv")),
        Some(input) => {
            filters.push(format!("scale={width}:{height}"));
            filters.push(format!("zscale={input}:t=linear:npl=100"));
            filters.push("format=gbrpf32le,zscale=p=bt709".to_owned());
            filters.push("tonemap=tonemap=hable:desat=0".to_owned());
            filters.push("zscale=t=bt709:m=bt709:r=tv".to_owned());
        }
    }
    filters.push("setsar=1,format=yuv420p".to_owned());
    filters.join(",")
}

/// libx264's settings: quality-based rate, no scene-cut keyframes (cuts come from the
/// schedule), and the colour tags of what comes out of the filters.
fn x264_options<'a>(decoder: &decoder::Video, tone_mapped: bool) -> Dictionary<'a> {
    let mut params = vec!["scenecut=0".to_owned()];
    if tone_mapped {
        params.push("colorprim=bt709:transfer=bt709:colormatrix=bt709".to_owned());
    } else {
        // Tags are passed on where libx264 spells them as libav does; scaling keeps the values.
        let primaries = decoder.color_primaries().name();
        let transfer = match decoder.color_transfer_characteristic().name() {
            Some("gamma22") => Some("bt470m"),
            Some("gamma28") => Some("bt470bg"),
            other => other,
        };
        let matrix = decoder.color_space().name();
        const PRIMARIES: &[&str] = &[
            "bt709",
            "bt470m",
            "bt470bg",
            "smpte170m",
            "smpte240m",
            "film",
            "bt2020",
        ];
        const TRANSFERS: &[&str] = &[
            "bt709",
            "bt470m",
            "bt470bg",
            "smpte170m",
            "smpte240m",
            "linear",
            "iec61966-2-1",
            "bt2020-10",
            "bt2020-12",
        ];
        const MATRICES: &[&str] = &[
            "bt709",
            "fcc",
            "bt470bg",
            "smpte170m",
            "smpte240m",
            "bt2020nc",
            "bt2020c",
        ];
        for (key, value, known) in [
            ("colorprim", primaries, PRIMARIES),
            ("transfer", transfer, TRANSFERS),
            ("colormatrix", matrix, MATRICES),
        ] {
            if let Some(value) = value.filter(|v| known.contains(v)) {
                params.push(format!("{key}={value}"));
            }
        }
    }
    let mut dict = Dictionary::new();
    dict.set("preset", "veryfast");
    dict.set("crf", "23");
    // A forced keyframe is an IDR frame, which a segment can start with.
    dict.set("forced-idr", "1");
    dict.set("x264-params", &params.join(":"));
    dict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_keeps_the_aspect_ratio_within_the_height() {
        let square = Rational(1, 1);
        assert_eq!(output_size((1280, 720), square, 0, 360), (640, 360));
        assert_eq!(output_size((1920, 1080), square, 0, 1080), (1920, 1080));
        // Never scaled up.
        assert_eq!(output_size((320, 240), square, 0, 1080), (320, 240));
        // Upright first.
        assert_eq!(output_size((320, 240), square, 90, 1080), (240, 320));
        assert_eq!(output_size((1920, 1080), square, 270, 1080), (608, 1080));
        // Anamorphic DVD: 720x480 with 32:27 pixels shows as 853x480.
        assert_eq!(
            output_size((720, 480), Rational(32, 27), 0, 1080),
            (854, 480)
        );
        // Unknown aspect means square; odd sizes become even.
        assert_eq!(output_size((321, 241), Rational(0, 1), 0, 1080), (320, 240));
        assert_eq!(output_size((1, 1), square, 0, 1080), (2, 2));
    }

    #[test]
    fn filter_chain_rotates_scales_and_tone_maps() {
        assert_eq!(
            filter_chain(0, (640, 360), None),
            "scale=640:360:out_range=tv,setsar=1,format=yuv420p"
        );
        assert!(filter_chain(90, (240, 320), None).starts_with("transpose=clock,scale=240:320"));
        assert!(filter_chain(270, (240, 320), None).starts_with("transpose=cclock,"));
        assert!(filter_chain(180, (320, 240), None).starts_with("hflip,vflip,"));
        let hdr = filter_chain(0, (160, 120), Some("tin=16:pin=9:min=9:rin=tv"));
        assert_eq!(
            hdr,
            "scale=160:120,zscale=tin=16:pin=9:min=9:rin=tv:t=linear:npl=100,\
             format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,\
             zscale=t=bt709:m=bt709:r=tv,setsar=1,format=yuv420p"
        );
    }

    #[test]
    fn packet_durations_come_from_the_next_frame() {
        let mut durations = Durations::new(40);
        // Frames at 0, 100, 133, 166 go in; packets come out reordered and late.
        durations.sent(0);
        durations.sent(100);
        assert_eq!(durations.take(Some(0)), 100);
        durations.sent(133);
        durations.sent(166);
        assert_eq!(durations.take(Some(133)), 33);
        assert_eq!(durations.take(Some(100)), 33);
        // The final frame takes the length before it.
        assert_eq!(durations.take(Some(166)), 33);
        assert!(durations.pending.is_empty());
        assert_eq!(Durations::new(40).take(None), 40);
    }

    #[test]
    fn keyframes_fall_on_segment_boundaries() {
        let mut keys = KeySchedule::new(6.0);
        let due = |keys: &mut KeySchedule, times: &[f64]| -> Vec<f64> {
            times.iter().copied().filter(|t| keys.is_due(*t)).collect()
        };
        // 10 fps from 0.5 s: keys at the first frame, then at 6.5, 12.5, ...
        let times: Vec<f64> = (5..200).map(|i| f64::from(i) / 10.0).collect();
        assert_eq!(due(&mut keys, &times), vec![0.5, 6.5, 12.5, 18.5]);
        // Variable rate with a gap: a late frame takes the key, the schedule does not drift.
        let mut keys = KeySchedule::new(6.0);
        assert_eq!(
            due(
                &mut keys,
                &[0.0, 1.0, 5.9, 7.3, 11.9, 12.0, 12.1, 30.0, 36.0]
            ),
            vec![0.0, 7.3, 12.0, 30.0, 36.0]
        );
        // A rounding error below a boundary still counts as the boundary.
        let mut keys = KeySchedule::new(6.0);
        assert_eq!(
            due(&mut keys, &[0.0, 5.999_999_9, 6.1]),
            vec![0.0, 5.999_999_9]
        );
    }
}
