//! Audio re-encoding: decoder → filter graph (resampling, channel mix, fixed-size frames) →
//! AAC.
//!
//! The graph's `aresample` follows the decoder's timestamps (`async=1` fills gaps and trims
//! overlaps of more than 0.1 s), and the sink hands out frames of exactly the encoder's
//! frame size, so no sample counting of our own decides a timestamp.

use ffmpeg::{codec, decoder, encoder, filter, format, frame, ChannelLayout, Rational};
use ffmpeg::{Error as AvError, Packet, Rescale, Stream};
use ffmpeg_next as ffmpeg;

use super::{drain_encoder, received, system, valid, Target, MICROSECONDS};
use crate::probe::av::is_system_error;
use crate::MediaError;

pub(super) struct Transcoder {
    pub(super) input: usize,
    pub(super) target: Target,
    /// The input stream's, and the decoder's.
    time_base: Rational,
    offset: i64,
    decoder: decoder::Audio,
    decoded: frame::Audio,
    /// Where the next frame starts if it comes without a timestamp.
    expected_pts: Option<i64>,
    chain: String,
    filters: Option<Filters>,
    output: Output,
}

impl Transcoder {
    pub(super) fn new(
        stream: &Stream,
        global_header: bool,
        offset: i64,
        octx: &mut format::context::Output,
    ) -> Result<Self, MediaError> {
        let time_base = stream.time_base();
        if !valid(time_base) {
            return Err(MediaError::invalid_input(
                "The audio stream of the file has no valid time base; the file is probably \
                 corrupt.",
            ));
        }
        let context = codec::Context::from_parameters(stream.parameters())
            .map_err(|e| system("The audio decoder could not be set up", &e))?;
        let mut decoder = context.decoder();
        decoder.set_packet_time_base(time_base);
        let decoder = decoder
            .audio()
            .map_err(|e| system("The audio decoder could not be opened", &e))?;

        // Rates AAC players all take stay; anything else becomes 48 kHz.
        let rate = match decoder.rate() {
            r @ (16_000 | 22_050 | 24_000 | 32_000 | 44_100 | 48_000) => r,
            _ => 48_000,
        };
        let (layout, layout_name, bit_rate) = if decoder.channels() == 1 {
            (ChannelLayout::MONO, "mono", 64_000)
        } else {
            (ChannelLayout::STEREO, "stereo", 128_000)
        };
        let codec = encoder::find_by_name("aac")
            .ok_or_else(|| MediaError::system("The AAC encoder is not available."))?;
        let mut encoder = codec::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(|e| system("The AAC encoder could not be set up", &e))?;
        encoder.set_rate(rate as i32);
        encoder.set_channel_layout(layout);
        encoder.set_channels(layout.channels());
        encoder.set_format(format::Sample::F32(format::sample::Type::Planar));
        encoder.set_bit_rate(bit_rate);
        let encoder_time_base = Rational(1, rate as i32);
        encoder.set_time_base(encoder_time_base);
        if global_header {
            encoder.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = encoder
            .open_as(codec)
            .map_err(|e| system("The AAC encoder could not be opened", &e))?;

        let mut ost = octx
            .add_stream(codec)
            .map_err(|e| system("An output stream could not be added", &e))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(encoder_time_base);
        let target = Target::new(ost.index());
        let chain = format!(
            "aresample={rate}:async=1,\
             aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts={layout_name}"
        );
        Ok(Self {
            input: stream.index(),
            target,
            time_base,
            offset: offset.rescale(MICROSECONDS, time_base),
            decoder,
            decoded: frame::Audio::empty(),
            expected_pts: None,
            chain,
            filters: None,
            output: Output {
                frame_size: encoder.frame_size(),
                encoder,
                time_base: encoder_time_base,
            },
        })
    }

    pub(super) fn packet(
        &mut self,
        packet: &Packet,
        octx: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        // A damaged packet is skipped, as the ffmpeg CLI does.
        if let Err(e) = self.decoder.send_packet(packet) {
            if is_system_error(&e) {
                return Err(system("The audio could not be decoded", &e));
            }
        }
        self.receive_frames(octx)
    }

    pub(super) fn finish(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        if let Err(e) = self.decoder.send_eof() {
            if is_system_error(&e) {
                return Err(system("The audio could not be decoded", &e));
            }
        }
        self.receive_frames(octx)?;
        self.flush_filters(octx)?;
        self.output
            .encoder
            .send_eof()
            .map_err(|e| system("The AAC encoder failed", &e))?;
        let time_base = self.output.time_base;
        drain_encoder(
            &mut self.output.encoder,
            time_base,
            &mut self.target,
            octx,
            |_| {},
        )
    }

    fn receive_frames(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        let mut errors = 0;
        loop {
            match received(self.decoder.receive_frame(&mut self.decoded)) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) if is_system_error(&e) => {
                    return Err(system("The audio could not be decoded", &e))
                }
                Err(_) if errors < 100 => {
                    errors += 1;
                    continue;
                }
                Err(_) => return Ok(()),
            }
            if self.decoded.samples() == 0 || self.decoded.rate() == 0 {
                continue;
            }
            let pts = self.next_pts();
            self.decoded.set_pts(Some(pts));
            self.filter(octx)?;
        }
    }

    fn next_pts(&mut self) -> i64 {
        let pts = (self.decoded.timestamp())
            .map(|ts| ts.saturating_sub(self.offset))
            .or(self.expected_pts)
            .unwrap_or(0);
        let length = (self.decoded.samples() as i64)
            .rescale(Rational(1, self.decoded.rate() as i32), self.time_base);
        self.expected_pts = Some(pts + length);
        pts
    }

    fn filter(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        let input = AudioFormat::of(&self.decoded);
        if self.filters.as_ref().map(|f| f.input) != Some(input) {
            self.flush_filters(octx)?;
            let frame_size = self.output.frame_size;
            self.filters = Some(Filters::new(
                input,
                self.time_base,
                &self.chain,
                frame_size,
            )?);
        }
        let Some(filters) = self.filters.as_mut() else {
            return Ok(());
        };
        filters.add(&self.decoded)?;
        filters.pull(&mut self.output, &mut self.target, octx)
    }

    fn flush_filters(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        if let Some(mut filters) = self.filters.take() {
            filters.close()?;
            filters.pull(&mut self.output, &mut self.target, octx)?;
        }
        Ok(())
    }
}

/// What the buffer source is configured with; a change means a new graph.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AudioFormat {
    sample: format::Sample,
    rate: u32,
    /// The legacy channel mask; 0 when the order is unknown.
    layout: u64,
    channels: u16,
}

impl AudioFormat {
    fn of(frame: &frame::Audio) -> Self {
        Self {
            sample: frame.format(),
            rate: frame.rate(),
            layout: frame.channel_layout().bits(),
            channels: frame.channels(),
        }
    }
}

struct Filters {
    graph: filter::Graph,
    input: AudioFormat,
    /// The sink's.
    time_base: Rational,
}

impl Filters {
    fn new(
        input: AudioFormat,
        time_base: Rational,
        chain: &str,
        frame_size: u32,
    ) -> Result<Self, MediaError> {
        // Without a known order, the count alone: the resampler then assumes the usual layout.
        let channels = if input.layout != 0 {
            format!("channel_layout=0x{:x}", input.layout)
        } else {
            format!("channels={}", input.channels)
        };
        let args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:{channels}",
            time_base.numerator(),
            time_base.denominator(),
            input.rate,
            input.sample.name(),
        );
        let fail = |e: AvError| system("The audio filters could not be set up", &e);
        let mut graph = filter::Graph::new();
        let abuffer = filter::find("abuffer").ok_or(AvError::FilterNotFound);
        let sink = filter::find("abuffersink").ok_or(AvError::FilterNotFound);
        graph
            .add(&abuffer.map_err(fail)?, "in", &args)
            .map_err(fail)?;
        graph.add(&sink.map_err(fail)?, "out", "").map_err(fail)?;
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(chain))
            .map_err(fail)?;
        graph.validate().map_err(fail)?;
        let mut out = graph
            .get("out")
            .ok_or_else(|| fail(AvError::FilterNotFound))?;
        // AAC takes frames of exactly this many samples (but the last); the sink buffers
        // what the resampler gives until a frame is full.
        if frame_size > 0 {
            out.sink().set_frame_size(frame_size);
        }
        let time_base = out.sink().time_base();
        Ok(Self {
            graph,
            input,
            time_base,
        })
    }

    fn add(&mut self, frame: &frame::Audio) -> Result<(), MediaError> {
        match self.graph.get("in") {
            Some(mut source) => source.source().add(frame),
            None => Err(AvError::FilterNotFound),
        }
        .map_err(|e| system("The audio could not be filtered", &e))
    }

    /// Marks the end of the frames, so that the filters give up what they hold.
    fn close(&mut self) -> Result<(), MediaError> {
        match self.graph.get("in") {
            Some(mut source) => source.source().flush(),
            None => Err(AvError::FilterNotFound),
        }
        .map_err(|e| system("The audio could not be filtered", &e))
    }

    /// Encodes every frame the filters have ready.
    fn pull(
        &mut self,
        output: &mut Output,
        target: &mut Target,
        octx: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        loop {
            // A fresh frame each time: the sink moves its frame in without releasing what
            // the target held, so a reused frame would leak a picture per frame.
            let mut filtered = frame::Audio::empty();
            let got = match self.graph.get("out") {
                Some(mut sink) => received(sink.sink().frame(&mut filtered)),
                None => Err(AvError::FilterNotFound),
            };
            match got {
                Ok(true) => output.encode(&mut filtered, self.time_base, target, octx)?,
                Ok(false) => return Ok(()),
                Err(e) => return Err(system("The audio could not be filtered", &e)),
            }
        }
    }
}

/// The encoding end, which filtered frames go into.
struct Output {
    encoder: encoder::audio::Encoder,
    time_base: Rational,
    frame_size: u32,
}

impl Output {
    /// Encodes `filtered`, whose timestamp is in `from`.
    fn encode(
        &mut self,
        filtered: &mut frame::Audio,
        from: Rational,
        target: &mut Target,
        octx: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        let pts = filtered.pts().map(|p| p.rescale(from, self.time_base));
        filtered.set_pts(pts);
        self.encoder
            .send_frame(filtered)
            .map_err(|e| system("The AAC encoder failed", &e))?;
        drain_encoder(&mut self.encoder, self.time_base, target, octx, |_| {})
    }
}
