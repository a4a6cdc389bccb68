//! Audio: its cover art, or else a drawing of its waveform.

use std::io::Cursor;
use std::path::Path;

use ffmpeg::format::stream::Disposition;
use ffmpeg::{codec, format, frame, media, Packet};
use ffmpeg_next as ffmpeg;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, Rgb, RgbImage};

use super::{check_pixels, decode_limits, finish, read_error, ThumbnailOptions};
use crate::probe::av::{is_system_error, open, receive_frame};
use crate::{MediaError, Probe};

/// Packets to read looking for the cover: libav hands attached pictures out first.
const MAX_PACKETS_TO_COVER: usize = 1_000;
/// Decode errors tolerated before the rest of the track is given up.
const MAX_DECODE_ERRORS: usize = 1_000;
/// Loudness that fills the height however quiet the track: near-silence stays flat.
const QUIET_PEAK: f32 = 0.05;
/// The share of the half-height the loudest peak reaches.
const DRAWN_HEIGHT: f32 = 0.9;
const BACKGROUND: Rgb<u8> = Rgb([246, 247, 249]);
const CENTRE_LINE: Rgb<u8> = Rgb([210, 215, 222]);
const PEAK_COLOUR: Rgb<u8> = Rgb([118, 134, 156]);
const RMS_COLOUR: Rgb<u8> = Rgb([38, 50, 68]);

/// The cover, when the file has one that decodes within the limits; `Ok(None)` otherwise.
pub(super) fn cover_art(
    path: &Path,
    probe: &Probe,
    options: &ThumbnailOptions,
) -> Result<Option<RgbImage>, MediaError> {
    if !probe.has_cover_art {
        return Ok(None);
    }
    let mut input = open(path).map_err(|e| read_error("audio", &e))?;
    let cover = input.streams().find(|s| {
        s.disposition().contains(Disposition::ATTACHED_PIC)
            && s.parameters().medium() == media::Type::Video
    });
    let Some(index) = cover.map(|s| s.index()) else {
        return Ok(None);
    };
    for _ in 0..MAX_PACKETS_TO_COVER {
        // A fresh packet each time: av_read_frame() does not release the one it is given.
        let mut packet = Packet::empty();
        match packet.read(&mut input) {
            // The packet is the picture file as it was embedded.
            Ok(()) if packet.stream() == index => {
                return Ok(packet.data().and_then(|bytes| decode_cover(bytes, options)));
            }
            Ok(()) => {}
            Err(e) if is_system_error(&e) => return Err(read_error("audio", &e)),
            Err(_) => break,
        }
    }
    Ok(None)
}

/// A cover that does not decode, or is too large, leaves the waveform to stand in.
fn decode_cover(bytes: &[u8], options: &ThumbnailOptions) -> Option<RgbImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut decoder = reader.into_decoder().ok()?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, options).ok()?;
    decoder.set_limits(decode_limits(width, height)).ok()?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).ok()?;
    Some(finish(image, orientation, options.max_side))
}

/// The waveform of the whole first audio stream, `max_side` wide and a quarter as high.
/// Memory stays small whatever the length: samples are folded into column summaries as
/// they are decoded.
pub(super) fn waveform(
    path: &Path,
    probe: &Probe,
    options: &ThumbnailOptions,
) -> Result<RgbImage, MediaError> {
    let stream = probe
        .audio_streams
        .first()
        .ok_or_else(|| MediaError::system("The audio was probed without an audio stream."))?;
    let (width, height) = (options.max_side, (options.max_side / 4).max(1));
    let mut input = open(path).map_err(|e| read_error("audio", &e))?;
    let parameters = input
        .stream(stream.index)
        .ok_or_else(|| {
            MediaError::invalid_input("The audio stream could not be found again in the file.")
        })?
        .parameters();
    let context =
        codec::Context::from_parameters(parameters).map_err(|e| read_error("audio", &e))?;
    let mut decoder = context
        .decoder()
        .audio()
        .map_err(|e| read_error("audio", &e))?;

    let mut envelope = Envelope::new(width as usize);
    let mut frame = frame::Audio::empty();
    let mut errors = 0;
    let mut eof = false;
    loop {
        loop {
            match receive_frame(&mut decoder, &mut frame) {
                Ok(true) => envelope.add_frame(&frame),
                Ok(false) => break,
                Err(e) if is_system_error(&e) => return Err(read_error("audio", &e)),
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
        if eof {
            break;
        }
        if errors > MAX_DECODE_ERRORS {
            let _ = decoder.send_eof();
            eof = true;
            continue;
        }
        // A fresh packet each time: av_read_frame() does not release the one it is given.
        let mut packet = Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {
                if packet.stream() == stream.index && decoder.send_packet(&packet).is_err() {
                    errors += 1;
                }
            }
            Err(e) if is_system_error(&e) => return Err(read_error("audio", &e)),
            // The end, or a damaged tail: draw what was read.
            Err(_) => {
                let _ = decoder.send_eof();
                eof = true;
            }
        }
    }
    if envelope.is_empty() {
        return Err(MediaError::invalid_input(
            "No sound could be decoded from the audio; the file is probably corrupt.",
        ));
    }
    Ok(draw(&envelope.columns(width as usize), width, height))
}

fn draw(columns: &[Bin], width: u32, height: u32) -> RgbImage {
    let peak = columns
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| b.low.abs().max(b.high.abs()))
        .fold(QUIET_PEAK, f32::max);
    let centre = (height - 1) as f32 / 2.0;
    let y = |v: f32| {
        (centre - v / peak * centre * DRAWN_HEIGHT)
            .round()
            .clamp(0.0, (height - 1) as f32) as u32
    };
    let mut image = RgbImage::from_pixel(width, height, BACKGROUND);
    for x in 0..width {
        image.put_pixel(x, centre.round() as u32, CENTRE_LINE);
    }
    for (x, bin) in (0..width).zip(columns) {
        if bin.count == 0 {
            continue;
        }
        let rms = (bin.sum_sq / bin.count as f64).sqrt() as f32;
        for (low, high, colour) in [(bin.low, bin.high, PEAK_COLOUR), (-rms, rms, RMS_COLOUR)] {
            for row in y(high)..=y(low) {
                image.put_pixel(x, row, colour);
            }
        }
    }
    image
}

/// A summary of consecutive sample frames (all channels).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bin {
    low: f32,
    high: f32,
    sum_sq: f64,
    count: u64,
}

impl Bin {
    const EMPTY: Bin = Bin {
        low: 0.0,
        high: 0.0,
        sum_sq: 0.0,
        count: 0,
    };

    fn merge(self, other: Bin) -> Bin {
        match (self.count, other.count) {
            (0, _) => other,
            (_, 0) => self,
            _ => Bin {
                low: self.low.min(other.low),
                high: self.high.max(other.high),
                sum_sq: self.sum_sq + other.sum_sq,
                count: self.count + other.count,
            },
        }
    }
}

/// Bins of a fixed number of sample frames, at most twice as many bins as columns: when
/// full, neighbours merge and each bin takes twice as many. Needs neither the duration nor
/// the samples.
struct Envelope {
    bins: Vec<Bin>,
    per_bin: u64,
    capacity: usize,
}

impl Envelope {
    fn new(columns: usize) -> Self {
        let capacity = 2 * columns.max(1);
        Self {
            bins: Vec::with_capacity(capacity),
            per_bin: 1,
            capacity,
        }
    }

    fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// One sample frame: its lowest and highest channel values and mean square.
    fn push(&mut self, low: f32, high: f32, mean_sq: f64) {
        let sample = Bin {
            low,
            high,
            sum_sq: mean_sq,
            count: 1,
        };
        if self.bins.last().is_none_or(|b| b.count >= self.per_bin) {
            if self.bins.len() >= self.capacity {
                self.bins = self
                    .bins
                    .chunks(2)
                    .map(|pair| pair.iter().fold(Bin::EMPTY, |a, b| a.merge(*b)))
                    .collect();
                self.per_bin *= 2;
            }
            if self.bins.last().is_none_or(|b| b.count >= self.per_bin) {
                self.bins.push(Bin::EMPTY);
            }
        }
        if let Some(last) = self.bins.last_mut() {
            *last = last.merge(sample);
        }
    }

    /// `n` columns over the whole track; a short track stretches.
    fn columns(&self, n: usize) -> Vec<Bin> {
        let len = self.bins.len();
        (0..n)
            .map(|c| {
                let from = (c * len / n).min(len);
                let to = ((c + 1) * len / n).max(from + 1).min(len);
                self.bins[from..to]
                    .iter()
                    .fold(Bin::EMPTY, |a, b| a.merge(*b))
            })
            .collect()
    }

    fn add_frame(&mut self, frame: &frame::Audio) {
        use format::sample::Type::{Packed, Planar};
        use format::Sample;
        let samples = frame.samples();
        let channels = usize::from(frame.channels()).max(1);
        match frame.format() {
            Sample::U8(Planar) => {
                self.add_planar(frame, samples, |v: u8| (f32::from(v) - 128.0) / 128.0)
            }
            Sample::I16(Planar) => self.add_planar(frame, samples, |v: i16| f32::from(v) / 32768.0),
            Sample::I32(Planar) => {
                self.add_planar(frame, samples, |v: i32| v as f32 / 2_147_483_648.0)
            }
            Sample::F32(Planar) => self.add_planar(frame, samples, |v: f32| v),
            Sample::F64(Planar) => self.add_planar(frame, samples, |v: f64| v as f32),
            packed @ (Sample::U8(Packed)
            | Sample::I16(Packed)
            | Sample::I32(Packed)
            | Sample::I64(Packed)
            | Sample::F32(Packed)
            | Sample::F64(Packed)) => self.add_packed(frame, packed, samples, channels),
            // No decoder here gives planar 64-bit integers.
            Sample::I64(Planar) | Sample::None => {}
        }
    }

    fn add_planar<T: frame::audio::Sample + Copy>(
        &mut self,
        frame: &frame::Audio,
        samples: usize,
        convert: impl Fn(T) -> f32,
    ) {
        // libav keeps the first eight planes in the frame itself; that many will do.
        let planes: Vec<&[T]> = (0..frame.planes().min(8)).map(|p| frame.plane(p)).collect();
        for i in 0..samples {
            let mut acc = Accumulator::default();
            for plane in &planes {
                if let Some(&v) = plane.get(i) {
                    acc.add(convert(v));
                }
            }
            acc.push_to(self);
        }
    }

    fn add_packed(
        &mut self,
        frame: &frame::Audio,
        format: format::Sample,
        samples: usize,
        channels: usize,
    ) {
        let width = format.bytes();
        let convert: fn(&[u8]) -> f32 = match format {
            format::Sample::U8(_) => |b| (f32::from(b[0]) - 128.0) / 128.0,
            format::Sample::I16(_) => |b| f32::from(i16::from_ne_bytes([b[0], b[1]])) / 32768.0,
            format::Sample::I32(_) => {
                |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0
            }
            format::Sample::I64(_) => |b| {
                i64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                    / 9_223_372_036_854_775_808.0
            },
            format::Sample::F32(_) => |b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            format::Sample::F64(_) => {
                |b| f64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
            format::Sample::None => return,
        };
        if frame.planes() == 0 || !matches!(width, 1 | 2 | 4 | 8) {
            return;
        }
        let Some(data) = frame.data(0).get(..samples * channels * width) else {
            return;
        };
        for sample_frame in data.chunks_exact(channels * width) {
            let mut acc = Accumulator::default();
            for value in sample_frame.chunks_exact(width) {
                acc.add(convert(value));
            }
            acc.push_to(self);
        }
    }
}

/// The channels of one sample frame.
#[derive(Default)]
struct Accumulator {
    low: f32,
    high: f32,
    sum_sq: f64,
    channels: u32,
}

impl Accumulator {
    fn add(&mut self, value: f32) {
        let value = if value.is_finite() {
            value.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        if self.channels == 0 {
            (self.low, self.high) = (value, value);
        } else {
            self.low = self.low.min(value);
            self.high = self.high.max(value);
        }
        self.sum_sq += f64::from(value) * f64::from(value);
        self.channels += 1;
    }

    fn push_to(&self, envelope: &mut Envelope) {
        if self.channels > 0 {
            envelope.push(self.low, self.high, self.sum_sq / f64::from(self.channels));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_folds_any_length_into_bounded_bins() {
        let mut envelope = Envelope::new(4);
        for i in 0..1000 {
            let v = if i < 500 { 0.1 } else { 0.9 };
            envelope.push(-v, v, f64::from(v * v));
        }
        assert!(envelope.bins.len() <= 8);
        let columns = envelope.columns(4);
        assert_eq!(columns.iter().map(|c| c.count).sum::<u64>(), 1000);
        assert!((columns[0].high - 0.1).abs() < 1e-6);
        assert!((columns[3].high - 0.9).abs() < 1e-6);
        assert!((columns[3].low + 0.9).abs() < 1e-6);
    }

    #[test]
    fn a_short_track_stretches() {
        let mut envelope = Envelope::new(640);
        envelope.push(-0.5, 0.5, 0.25);
        envelope.push(-0.25, 0.25, 0.0625);
        let columns = envelope.columns(640);
        assert_eq!(columns.len(), 640);
        assert!(columns.iter().all(|c| c.count == 1));
        assert_eq!(columns[0].high, 0.5);
        assert_eq!(columns[639].high, 0.25);
    }

    #[test]
    fn silence_draws_a_flat_line() {
        let picture = draw(&[Bin::EMPTY; 4], 4, 3);
        assert_eq!(picture.get_pixel(0, 1), &CENTRE_LINE);
        assert_eq!(picture.get_pixel(0, 0), &BACKGROUND);
    }
}
