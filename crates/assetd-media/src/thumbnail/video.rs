//! A representative frame of a video, through libav: not blank, tone-mapped when HDR, upright.

use std::path::Path;

use ffmpeg::color::{Primaries, Range, Space, TransferCharacteristic};
use ffmpeg::{codec, decoder, filter, format, frame, Error as AvError, Packet, Rational};
use ffmpeg_next as ffmpeg;
use image::{imageops, RgbImage};

use super::{fit, read_error, ThumbnailOptions};
use crate::probe::av::{is_system_error, open, receive_frame};
use crate::{MediaError, Probe};

/// Where to look first, as fractions of the duration: past intros and fade-ins.
const POSITIONS: [f64; 4] = [0.1, 0.2, 0.3, 0.5];
/// Frames decoded after a seek before settling for the one at hand, so that a stream with
/// rare keyframes is not decoded all the way to the target.
const MAX_FRAMES_AFTER_SEEK: usize = 600;
/// Loop turns (one packet read each) while waiting for one frame.
const MAX_PACKETS_PER_FRAME: usize = 20_000;
/// When every position was blank or the duration is unknown: a scan from the start that
/// looks at one frame a second, at most this many times, within this many frames.
const SCAN_STEP_SECONDS: f64 = 1.0;
const MAX_SCAN_LOOKS: usize = 30;
const MAX_SCAN_FRAMES: usize = 3_000;
/// Below either, a picture is blank: nearly uniform (a black or white card), or dark (a fade).
const MIN_LUMA_DEVIATION: f64 = 4.0;
const MIN_MEAN_LUMA: f64 = 16.0;
/// Decoder threads: a few help with 4K HEVC; more would crowd the other media children.
const MAX_THREADS: usize = 4;

/// The picture, and where it was taken in seconds.
pub(super) fn frame(
    path: &Path,
    probe: &Probe,
    options: &ThumbnailOptions,
) -> Result<(RgbImage, f64), MediaError> {
    let stream = probe
        .video_streams
        .first()
        .ok_or_else(|| MediaError::system("The video was probed without a video stream."))?;
    let mut looker = Looker::new(options.max_side);

    if let Some(duration) = probe.duration_seconds.filter(|d| d.is_finite() && *d > 0.0) {
        let mut video = Video::open(path, stream.index)?;
        for fraction in POSITIONS {
            let at = duration * fraction;
            match video.frame_at(at) {
                Ok(Some((mut frame, seconds))) => {
                    if looker.look(&mut frame, seconds) {
                        break;
                    }
                }
                Ok(None) => {}
                Err(Stop::Seek) => break,
                Err(Stop::Av(e)) => return Err(read_error("video", &e)),
            }
        }
    }
    if !looker.found() {
        // The first frame that is not blank, from the start.
        let mut video = Video::open(path, stream.index)?;
        let mut frame = frame::Video::empty();
        let mut next_look = f64::NEG_INFINITY;
        let mut looks = 0;
        for _ in 0..MAX_SCAN_FRAMES {
            if !video
                .next(&mut frame)
                .map_err(|e| read_error("video", &e))?
            {
                break;
            }
            let seconds = video.seconds(&frame);
            if seconds.is_some_and(|s| s < next_look) {
                continue;
            }
            looks += 1;
            if looker.look(&mut frame, seconds.unwrap_or(0.0)) || looks >= MAX_SCAN_LOOKS {
                break;
            }
            next_look = seconds.map_or(f64::NEG_INFINITY, |s| s + SCAN_STEP_SECONDS);
        }
    }
    let (picture, seconds) = looker.take()?;
    let picture = match stream.rotation {
        90 => imageops::rotate90(&picture),
        180 => imageops::rotate180(&picture),
        270 => imageops::rotate270(&picture),
        _ => picture,
    };
    Ok((picture, seconds))
}

/// Renders the frames looked at and keeps the best.
struct Looker {
    max_side: u32,
    best: Option<Candidate>,
    looked: bool,
    render_error: Option<AvError>,
}

struct Candidate {
    picture: RgbImage,
    seconds: f64,
    deviation: f64,
    blank: bool,
}

impl Looker {
    fn new(max_side: u32) -> Self {
        Self {
            max_side,
            best: None,
            looked: false,
            render_error: None,
        }
    }

    /// True when the frame is not blank and has become the choice.
    fn look(&mut self, frame: &mut frame::Video, seconds: f64) -> bool {
        self.looked = true;
        let picture = match render(frame, self.max_side) {
            Ok(picture) => picture,
            Err(e) => {
                self.render_error = Some(e);
                return false;
            }
        };
        let (mean, deviation) = luma_stats(&picture);
        let blank = deviation < MIN_LUMA_DEVIATION || mean < MIN_MEAN_LUMA;
        // Among blank pictures, the one with the most going on.
        let better = match &self.best {
            None => true,
            Some(best) => best.blank && (!blank || deviation > best.deviation),
        };
        if better {
            self.best = Some(Candidate {
                picture,
                seconds,
                deviation,
                blank,
            });
        }
        !blank
    }

    fn found(&self) -> bool {
        self.best.as_ref().is_some_and(|b| !b.blank)
    }

    fn take(self) -> Result<(RgbImage, f64), MediaError> {
        match (self.best, self.render_error) {
            (Some(best), _) => Ok((best.picture, best.seconds)),
            (None, Some(e)) => Err(MediaError::system(format!(
                "The video frame could not be converted to a picture: {e}."
            ))),
            (None, None) => Err(MediaError::invalid_input(if self.looked {
                "No frame of the video could be used; the file is probably corrupt."
            } else {
                "No frame of the video could be decoded; the file is probably corrupt or \
                 truncated."
            })),
        }
    }
}

/// Mean and standard deviation of the luma (BT.709 weights), in levels of 255.
fn luma_stats(picture: &RgbImage) -> (f64, f64) {
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for pixel in picture.pixels() {
        let [r, g, b] = pixel.0.map(f64::from);
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        sum += y;
        sum_sq += y * y;
        n += 1.0;
    }
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = sum / n;
    (mean, (sum_sq / n - mean * mean).max(0.0).sqrt())
}

/// Why no frame came from a seek.
enum Stop {
    /// The file cannot seek there: scan from the start instead.
    Seek,
    Av(AvError),
}

/// The video stream of an open file, with its decoder.
struct Video {
    input: format::context::Input,
    index: usize,
    decoder: decoder::Video,
    /// Seconds per tick, when the stream has a usable time base.
    time_base: Option<f64>,
    /// The stream's first timestamp, in ticks.
    start: i64,
    eof_sent: bool,
}

impl Video {
    fn open(path: &Path, index: usize) -> Result<Self, MediaError> {
        let input = open(path).map_err(|e| read_error("video", &e))?;
        let stream = input.stream(index).ok_or_else(|| {
            MediaError::invalid_input("The video stream could not be found again in the file.")
        })?;
        let tb = stream.time_base();
        let time_base = (tb.numerator() > 0 && tb.denominator() > 0).then(|| f64::from(tb));
        let start = match stream.start_time() {
            ffmpeg::ffi::AV_NOPTS_VALUE => 0,
            start => start,
        };
        let mut context = codec::Context::from_parameters(stream.parameters())
            .map_err(|e| read_error("video", &e))?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        context.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: threads.min(MAX_THREADS),
            ..Default::default()
        });
        let decoder = context
            .decoder()
            .video()
            .map_err(|e| read_error("video", &e))?;
        Ok(Self {
            input,
            index,
            decoder,
            time_base,
            start,
            eof_sent: false,
        })
    }

    /// Where a frame is, in seconds from the start of the stream.
    fn seconds(&self, frame: &frame::Video) -> Option<f64> {
        let ts = frame.timestamp().or(frame.pts())?;
        let time_base = self.time_base?;
        let seconds = (ts.saturating_sub(self.start) as f64 * time_base).max(0.0);
        Some((seconds * 1000.0).round() / 1000.0)
    }

    /// The next frame, in presentation order; `Ok(false)` at the end. Damaged packets and
    /// frames are skipped, and data that stops making sense ends the stream.
    fn next(&mut self, frame: &mut frame::Video) -> Result<bool, AvError> {
        for _ in 0..MAX_PACKETS_PER_FRAME {
            match receive_frame(&mut self.decoder, frame) {
                Ok(true) => return Ok(true),
                Ok(false) if self.eof_sent => return Ok(false),
                Ok(false) => {}
                Err(e) if is_system_error(&e) => return Err(e),
                Err(_) if self.eof_sent => continue,
                Err(_) => {}
            }
            // A fresh packet each time: av_read_frame() does not release the one it is given.
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    if packet.stream() == self.index {
                        // A packet the decoder refuses: the next keyframe may do.
                        let _ = self.decoder.send_packet(&packet);
                    }
                }
                Err(e) if is_system_error(&e) => return Err(e),
                // The end, or damaged data: what is decoded so far is what there is.
                Err(_) => {
                    let _ = self.decoder.send_eof();
                    self.eof_sent = true;
                }
            }
        }
        Ok(false)
    }

    /// The first frame at or after `at` seconds, decoded forward from the keyframe before it;
    /// the last frame when the stream ends first. `Ok(None)` when no frame came at all.
    fn frame_at(&mut self, at: f64) -> Result<Option<(frame::Video, f64)>, Stop> {
        let time_base = self.time_base.ok_or(Stop::Seek)?;
        let seconds = self.start as f64 * time_base + at;
        let target = (seconds * f64::from(ffmpeg::ffi::AV_TIME_BASE)).round() as i64;
        self.input.seek(target, ..target).map_err(|_| Stop::Seek)?;
        self.decoder.flush();
        self.eof_sent = false;

        let mut frame = frame::Video::empty();
        let mut previous = frame::Video::empty();
        let mut previous_seconds = None;
        for _ in 0..MAX_FRAMES_AFTER_SEEK {
            if !self.next(&mut frame).map_err(Stop::Av)? {
                break;
            }
            let seconds = self.seconds(&frame);
            // Half a millisecond: timestamps are rounded to their time base.
            match seconds {
                Some(s) if s + 0.0005 < at => {
                    std::mem::swap(&mut frame, &mut previous);
                    previous_seconds = Some(s);
                }
                _ => return Ok(Some((frame, seconds.unwrap_or(at)))),
            }
        }
        Ok(previous_seconds.map(|s| (previous, s)))
    }
}

/// Scales a frame to fit `max_side` (honouring a non-square sample aspect ratio) and
/// converts it to 8-bit RGB, tone-mapping HDR to SDR BT.709.
fn render(frame: &mut frame::Video, max_side: u32) -> Result<RgbImage, AvError> {
    let (width, height) = (frame.width(), frame.height());
    if width == 0 || height == 0 {
        return Err(AvError::InvalidData);
    }
    let sar = frame.aspect_ratio();
    let sar = if sar.numerator() > 0 && sar.denominator() > 0 {
        sar
    } else {
        Rational::new(1, 1)
    };
    let (display_width, display_height) = display_size(width, height, sar);
    let (w, h) = fit(display_width, display_height, max_side);
    if is_hdr(frame) {
        // A copy, since the graph takes the frame's pixels and the SDR way may need them.
        let mut copy = frame.clone();
        assume_hdr_defaults(&mut copy);
        // zimg refuses some colour descriptions; a washed-out picture beats none.
        if let Ok(picture) = filter_frame(&mut copy, sar, &hdr_graph(w, h)) {
            return Ok(picture);
        }
    }
    filter_frame(frame, sar, &sdr_graph(w, h))
}

fn sdr_graph(w: u32, h: u32) -> String {
    format!("scale=w={w}:h={h}:flags=lanczos+accurate_rnd+full_chroma_int,format=rgb24")
}

/// To linear light (SDR white at 100 nits), BT.709 primaries, then Möbius tone mapping:
/// it keeps contrast and colour of what is in the SDR range and compresses only the
/// highlights, where Hable darkens the whole picture.
fn hdr_graph(w: u32, h: u32) -> String {
    format!(
        "zscale=w={w}:h={h}:f=spline36:t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,\
         tonemap=tonemap=mobius:desat=0,zscale=t=bt709,format=gbrp,format=rgb24"
    )
}

fn is_hdr(frame: &frame::Video) -> bool {
    matches!(
        frame.color_transfer_characteristic(),
        TransferCharacteristic::SMPTE2084 | TransferCharacteristic::ARIB_STD_B67
    )
}

/// zimg needs the whole colour description; HDR video that gives only its transfer is
/// BT.2020 in practice.
fn assume_hdr_defaults(frame: &mut frame::Video) {
    if frame.color_primaries() == Primaries::Unspecified {
        frame.set_color_primaries(Primaries::BT2020);
    }
    if frame.color_space() == Space::Unspecified {
        frame.set_color_space(Space::BT2020NCL);
    }
    if frame.color_range() == Range::Unspecified {
        frame.set_color_range(Range::MPEG);
    }
}

/// The size a frame is shown at: stretched along one axis for non-square samples.
fn display_size(width: u32, height: u32, sar: Rational) -> (u32, u32) {
    let ratio = f64::from(sar.numerator()) / f64::from(sar.denominator());
    // Bounds keep a nonsensical ratio from making a zero or enormous side.
    let stretch = |side: u32, by: f64| (f64::from(side) * by).round().clamp(1.0, 1e6) as u32;
    if ratio > 1.0 {
        (stretch(width, ratio), height)
    } else {
        (width, stretch(height, 1.0 / ratio))
    }
}

/// Runs one frame through a filter graph that ends in RGB24.
fn filter_frame(
    frame: &mut frame::Video,
    sar: Rational,
    graph_spec: &str,
) -> Result<RgbImage, AvError> {
    let mut graph = filter::Graph::new();
    let args = format!(
        "video_size={}x{}:pix_fmt={}:time_base=1/1:pixel_aspect={}/{}",
        frame.width(),
        frame.height(),
        ffmpeg::ffi::AVPixelFormat::from(frame.format()) as i32,
        sar.numerator(),
        sar.denominator()
    );
    let buffer = filter::find("buffer").ok_or(AvError::FilterNotFound)?;
    let buffersink = filter::find("buffersink").ok_or(AvError::FilterNotFound)?;
    graph.add(&buffer, "in", &args)?;
    graph.add(&buffersink, "out", "")?;
    graph.output("in", 0)?.input("out", 0)?.parse(graph_spec)?;
    graph.validate()?;

    let mut source = graph.get("in").ok_or(AvError::Bug)?;
    source.source().add(frame)?;
    source.source().flush()?;
    let mut out = frame::Video::empty();
    graph
        .get("out")
        .ok_or(AvError::Bug)?
        .sink()
        .frame(&mut out)?;
    to_rgb_image(&out)
}

fn to_rgb_image(frame: &frame::Video) -> Result<RgbImage, AvError> {
    if frame.format() != format::Pixel::RGB24 || frame.planes() == 0 {
        return Err(AvError::Bug);
    }
    let (width, height) = (frame.width(), frame.height());
    let (stride, data) = (frame.stride(0), frame.data(0));
    let row = width as usize * 3;
    let mut pixels = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        let start = y * stride;
        pixels.extend_from_slice(data.get(start..start + row).ok_or(AvError::Bug)?);
    }
    RgbImage::from_raw(width, height, pixels).ok_or(AvError::Bug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_size_stretches_one_axis() {
        assert_eq!(display_size(720, 576, Rational::new(1, 1)), (720, 576));
        // PAL 16:9 anamorphic.
        assert_eq!(display_size(720, 576, Rational::new(64, 45)), (1024, 576));
        assert_eq!(display_size(100, 100, Rational::new(1, 2)), (100, 200));
    }

    #[test]
    fn blank_pictures() {
        let black = RgbImage::new(8, 8);
        assert_eq!(luma_stats(&black), (0.0, 0.0));
        let grey = RgbImage::from_pixel(8, 8, image::Rgb([128, 128, 128]));
        let (mean, deviation) = luma_stats(&grey);
        assert!((mean - 128.0).abs() < 1e-9 && deviation < 1e-6);
        let stripes = RgbImage::from_fn(8, 8, |x, _| image::Rgb([(x % 2 * 255) as u8; 3]));
        let (mean, deviation) = luma_stats(&stripes);
        assert!((mean - 127.5).abs() < 1e-6 && (deviation - 127.5).abs() < 1e-6);
    }
}
