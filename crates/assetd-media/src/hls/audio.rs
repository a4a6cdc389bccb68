//! Audio re-encoding: decoder → filter graph (resampling, channel mix, fixed-size frames) →
//! AAC.
//!
//! The graph's `aresample` follows the decoder's timestamps (`async=1` fills gaps and trims
//! overlaps of more than 0.1 s), and the sink hands out frames of exactly the encoder's
//! frame size, so no sample counting of our own decides a timestamp.

use ffmpeg::{codec, decoder, encoder, format, frame, ChannelLayout, Packet, Rational};
use ffmpeg::{Rescale, Stream};
use ffmpeg_next as ffmpeg;

use super::transcode::{self, Filters, Graph};
use super::{stream_time_base, system, Target, MICROSECONDS};
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
    filters: Filters<AudioFormat, frame::Audio>,
    output: Output,
}

impl Transcoder {
    pub(super) fn new(
        stream: &Stream,
        global_header: bool,
        offset: i64,
        octx: &mut format::context::Output,
    ) -> Result<Self, MediaError> {
        let time_base = stream_time_base(stream, "The audio stream")?;
        let decoder = transcode::open_decoder(stream, time_base, "audio", |d| d.audio())?;

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

        let target = Target::add(octx, codec, &encoder, encoder_time_base)?;
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
            filters: Filters::new(frame::Audio::empty),
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
        transcode::send_packet(&mut self.decoder, Some(packet), "audio")?;
        self.receive_frames(octx)
    }

    pub(super) fn finish(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        transcode::send_packet(&mut self.decoder, None, "audio")?;
        self.receive_frames(octx)?;
        let (output, target) = (&mut self.output, &mut self.target);
        self.filters
            .flush(|filtered, from| output.encode(filtered, from, target, octx))?;
        output.send(None, target, octx)
    }

    fn receive_frames(&mut self, octx: &mut format::context::Output) -> Result<(), MediaError> {
        let mut errors = 0;
        while transcode::receive(&mut self.decoder, &mut self.decoded, &mut errors, "audio")? {
            if self.decoded.samples() == 0 || self.decoded.rate() == 0 {
                continue;
            }
            let pts = self.next_pts();
            self.decoded.set_pts(Some(pts));
            self.filter(octx)?;
        }
        Ok(())
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
        let (time_base, frame_size) = (self.time_base, self.output.frame_size);
        let build = || graph(input, time_base, &self.chain, frame_size);
        let (output, target) = (&mut self.output, &mut self.target);
        self.filters
            .filter(&self.decoded, input, build, |filtered, from| {
                output.encode(filtered, from, target, octx)
            })
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

fn graph(
    input: AudioFormat,
    time_base: Rational,
    chain: &str,
    frame_size: u32,
) -> Result<Graph, MediaError> {
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
    let mut graph = Graph::new("audio", ("abuffer", "abuffersink"), &args, chain)?;
    // AAC takes frames of exactly this many samples (but the last); the sink buffers
    // what the resampler gives until a frame is full.
    if frame_size > 0 {
        graph.set_frame_size(frame_size);
    }
    Ok(graph)
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
        self.send(Some(filtered), target, octx)
    }

    /// Sends the encoder a frame, or the end with `None`, and writes what it has ready.
    fn send(
        &mut self,
        frame: Option<&frame::Audio>,
        target: &mut Target,
        octx: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        let frame = frame.map(|f| &**f);
        transcode::encode(
            &mut self.encoder,
            frame,
            "AAC",
            self.time_base,
            target,
            octx,
            |_| {},
        )
    }
}
