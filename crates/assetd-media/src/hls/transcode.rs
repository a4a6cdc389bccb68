//! What the audio and video transcoders share: the decoder's end, the filter graph between
//! decoder and encoder, and the encoder's packets on their way into the output.

use std::ops::DerefMut;

use ffmpeg::{codec, decoder, encoder, filter, format, Error as AvError, Frame, Packet};
use ffmpeg::{Rational, Stream};
use ffmpeg_next as ffmpeg;

use super::{system, Target};
use crate::probe::av::{is_system_error, receive_frame, received};
use crate::MediaError;

/// Opens a decoder for `stream`, whose packets come in `time_base`; `open` picks the medium.
pub(super) fn open_decoder<D>(
    stream: &Stream,
    time_base: Rational,
    what: &str,
    open: impl FnOnce(decoder::Decoder) -> Result<D, AvError>,
) -> Result<D, MediaError> {
    let context = codec::Context::from_parameters(stream.parameters())
        .map_err(|e| system(&format!("The {what} decoder could not be set up"), &e))?;
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(time_base);
    open(decoder).map_err(|e| system(&format!("The {what} decoder could not be opened"), &e))
}

/// Sends the decoder a packet, or the end of the stream with `None`. A damaged packet is
/// skipped, as the ffmpeg CLI does; a stream of which nothing decodes fails in the end for
/// having written nothing.
pub(super) fn send_packet(
    decoder: &mut decoder::Opened,
    packet: Option<&Packet>,
    what: &str,
) -> Result<(), MediaError> {
    let sent = match packet {
        Some(packet) => decoder.send_packet(packet),
        None => decoder.send_eof(),
    };
    match sent {
        Err(e) if is_system_error(&e) => {
            Err(system(&format!("The {what} could not be decoded"), &e))
        }
        _ => Ok(()),
    }
}

/// Takes the decoder's next frame into `frame`: `Ok(false)` when it wants another packet or is
/// drained, or when too many frames failed (counted in `errors`).
pub(super) fn receive(
    decoder: &mut decoder::Opened,
    frame: &mut Frame,
    errors: &mut u32,
    what: &str,
) -> Result<bool, MediaError> {
    loop {
        match receive_frame(decoder, frame) {
            Ok(got) => return Ok(got),
            Err(e) if is_system_error(&e) => {
                return Err(system(&format!("The {what} could not be decoded"), &e))
            }
            // A frame that failed; the decoder goes on with the next.
            Err(_) if *errors < 100 => *errors += 1,
            Err(_) => return Ok(false),
        }
    }
}

/// The filter graph for frames of one input format (`K`), built for the first frame and again
/// when the frames change format; `F` is the frame type.
pub(super) struct Filters<K, F> {
    current: Option<(K, Graph)>,
    empty: fn() -> F,
}

impl<K: Copy + PartialEq, F: DerefMut<Target = Frame>> Filters<K, F> {
    pub(super) fn new(empty: fn() -> F) -> Self {
        Self {
            current: None,
            empty,
        }
    }

    /// Filters `frame`, whose format is `input`, through a graph from `build` if the format is
    /// new, and hands every frame ready to `encode`.
    pub(super) fn filter(
        &mut self,
        frame: &Frame,
        input: K,
        build: impl FnOnce() -> Result<Graph, MediaError>,
        mut encode: impl FnMut(&mut F, Rational) -> Result<(), MediaError>,
    ) -> Result<(), MediaError> {
        if self.current.as_ref().map(|(k, _)| *k) != Some(input) {
            self.flush(&mut encode)?;
            self.current = Some((input, build()?));
        }
        let Some((_, graph)) = self.current.as_mut() else {
            return Ok(());
        };
        graph.send(Some(frame))?;
        graph.pull(self.empty, encode)
    }

    /// Makes the graph give up what it holds, into `encode`, and drops it.
    pub(super) fn flush(
        &mut self,
        encode: impl FnMut(&mut F, Rational) -> Result<(), MediaError>,
    ) -> Result<(), MediaError> {
        if let Some((_, mut graph)) = self.current.take() {
            graph.send(None)?;
            graph.pull(self.empty, encode)?;
        }
        Ok(())
    }
}

/// A filter graph from a buffer source ("in") through a chain of filters to a buffer sink
/// ("out").
pub(super) struct Graph {
    graph: filter::Graph,
    /// "audio" or "video", for error messages.
    what: &'static str,
    /// The sink's.
    time_base: Rational,
}

impl Graph {
    /// `source` and `sink` name the buffer filters at the ends; `args` configures the source.
    pub(super) fn new(
        what: &'static str,
        (source, sink): (&str, &str),
        args: &str,
        chain: &str,
    ) -> Result<Self, MediaError> {
        let fail = |e: AvError| system(&format!("The {what} filters could not be set up"), &e);
        let mut graph = filter::Graph::new();
        let source = filter::find(source).ok_or(AvError::FilterNotFound);
        let sink = filter::find(sink).ok_or(AvError::FilterNotFound);
        graph
            .add(&source.map_err(fail)?, "in", args)
            .map_err(fail)?;
        graph.add(&sink.map_err(fail)?, "out", "").map_err(fail)?;
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(chain))
            .map_err(fail)?;
        graph.validate().map_err(fail)?;
        let time_base = graph
            .get("out")
            .map(|mut out| out.sink().time_base())
            .ok_or_else(|| fail(AvError::FilterNotFound))?;
        Ok(Self {
            graph,
            what,
            time_base,
        })
    }

    /// Makes the sink hand out frames of exactly `samples` (but the last).
    pub(super) fn set_frame_size(&mut self, samples: u32) {
        if let Some(mut out) = self.graph.get("out") {
            out.sink().set_frame_size(samples);
        }
    }

    /// Adds a frame, or marks the end of the frames with `None`, so that the filters give up
    /// what they hold.
    fn send(&mut self, frame: Option<&Frame>) -> Result<(), MediaError> {
        match (self.graph.get("in"), frame) {
            (Some(mut source), Some(frame)) => source.source().add(frame),
            (Some(mut source), None) => source.source().flush(),
            (None, _) => Err(AvError::FilterNotFound),
        }
        .map_err(|e| self.failed(&e))
    }

    /// Hands every frame the filters have ready to `encode`, with the time base it is in.
    fn pull<F: DerefMut<Target = Frame>>(
        &mut self,
        empty: fn() -> F,
        mut encode: impl FnMut(&mut F, Rational) -> Result<(), MediaError>,
    ) -> Result<(), MediaError> {
        loop {
            // A fresh frame each time: the sink moves its frame in without releasing what
            // the target held, so a reused frame would leak a picture per frame.
            let mut filtered = empty();
            let got = match self.graph.get("out") {
                Some(mut sink) => received(sink.sink().frame(&mut filtered)),
                None => Err(AvError::FilterNotFound),
            };
            match got {
                Ok(true) => encode(&mut filtered, self.time_base)?,
                Ok(false) => return Ok(()),
                Err(e) => return Err(self.failed(&e)),
            }
        }
    }

    fn failed(&self, error: &AvError) -> MediaError {
        system(&format!("The {} could not be filtered", self.what), error)
    }
}

/// Sends the encoder a frame, or the end of the frames with `None`, and writes the packets it
/// has ready, through `amend`, into the output. `name` names the encoder in an error.
pub(super) fn encode(
    encoder: &mut encoder::Encoder,
    frame: Option<&Frame>,
    name: &str,
    time_base: Rational,
    target: &mut Target,
    octx: &mut format::context::Output,
    mut amend: impl FnMut(&mut Packet),
) -> Result<(), MediaError> {
    match frame {
        Some(frame) => encoder.send_frame(frame),
        None => encoder.send_eof(),
    }
    .map_err(|e| system(&format!("The {name} encoder failed"), &e))?;
    let mut packet = Packet::empty();
    while received(encoder.receive_packet(&mut packet))
        .map_err(|e| system("The encoder failed", &e))?
    {
        amend(&mut packet);
        target
            .write(&mut packet, time_base, octx)
            .map_err(|e| system("A segment could not be written", &e))?;
    }
    Ok(())
}
