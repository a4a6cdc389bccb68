//! HLS packaging against real files made by the ffmpeg command line at test time; every
//! stream made is played back whole by the ffmpeg command line.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use assetd_media::{hls, HlsMode, HlsOptions, HlsOutput, MediaErrorKind};
use common::{ffmpeg, ffprobe, make, mean_abs_diff, noise, succeeded, write, H264};
use tempfile::TempDir;

const SMALL: &str = "size=160x120:rate=25";

fn video(seconds: u32) -> String {
    format!("-f lavfi -i testsrc2=duration={seconds}:{SMALL}")
}

fn tone(seconds: u32) -> String {
    format!("-f lavfi -i sine=frequency=440:duration={seconds}")
}

/// A packaged stream, checked for what every stream must be.
struct Packaged {
    dir: TempDir,
    output: HlsOutput,
    master: String,
    index: String,
}

impl Packaged {
    fn master(&self) -> PathBuf {
        self.dir.path().join("master.m3u8")
    }

    fn segment(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("seg_{n:05}.ts"))
    }

    /// The `#EXTINF` durations.
    fn durations(&self) -> Vec<f64> {
        (self.index.lines())
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|d| d.trim_end_matches(',').parse().unwrap())
            .collect()
    }

    /// `codec_name` (and `pix_fmt`, `width`, `height` for video) of the first segment's streams.
    fn segment_streams(&self) -> String {
        let text = ffprobe(
            &self.segment(0),
            "-show_entries stream=codec_name,pix_fmt,width,height -of csv=p=0",
        );
        // MPEG-TS streams are listed once under their program and once on their own.
        let mut lines: Vec<&str> = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

/// Packages `input`, checks the playlists and plays the whole stream.
fn package(input: &Path, options: &HlsOptions) -> Packaged {
    let dir = TempDir::new().unwrap();
    let started = Instant::now();
    let result = hls(input, dir.path(), options);
    let elapsed = started.elapsed();
    let output = succeeded("hls", input, result);
    eprintln!(
        "hls of {:?}: {:?} in {:?}",
        input.file_name().unwrap(),
        output,
        elapsed
    );

    let master = fs::read_to_string(dir.path().join("master.m3u8")).unwrap();
    let index = fs::read_to_string(dir.path().join("index.m3u8")).unwrap();
    let lines: Vec<&str> = master.lines().collect();
    assert_eq!(lines.first(), Some(&"#EXTM3U"), "{master}");
    let stream_inf: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("#EXT-X-STREAM-INF:"))
        .collect();
    let [at] = stream_inf[..] else {
        panic!("not one variant: {master}")
    };
    assert!(lines[at].contains("BANDWIDTH="), "{master}");
    assert!(lines[at].contains("CODECS=\""), "{master}");
    assert_eq!(lines.get(at + 1), Some(&"index.m3u8"), "{master}");
    assert_eq!(
        lines[at].contains("RESOLUTION="),
        output.mode != HlsMode::AudioOnly,
        "{master}"
    );
    if let (Some(w), Some(h)) = (output.width, output.height) {
        assert!(
            lines[at].contains(&format!("RESOLUTION={w}x{h}")),
            "{master}"
        );
    }

    for tag in [
        "#EXTM3U",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-TARGETDURATION:",
        "#EXT-X-ENDLIST",
    ] {
        assert!(index.contains(tag), "{tag} missing: {index}");
    }
    let uris: Vec<String> = (index.lines())
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(uris.len(), output.segments as usize, "{index}");
    for (n, uri) in uris.iter().enumerate() {
        assert_eq!(*uri, format!("seg_{n:05}.ts"), "{index}");
        assert!(dir.path().join(uri).is_file(), "{uri} missing");
    }
    let target: f64 = (index.lines())
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .unwrap()
        .parse()
        .unwrap();
    let packaged = Packaged {
        dir,
        output,
        master,
        index,
    };
    let durations = packaged.durations();
    assert!(
        durations.iter().all(|d| d.round() <= target),
        "{durations:?}"
    );
    let total: f64 = durations.iter().sum();
    assert!((total - packaged.output.duration_seconds).abs() < 0.01);
    // Nothing else in the folder: it is served as it is.
    assert_eq!(
        fs::read_dir(packaged.dir.path()).unwrap().count(),
        uris.len() + 2
    );

    // The whole stream plays, without a single complaint. Frames keep the stream's time base:
    // in one from the CLI's guess of a frame rate, a variable rate's frames could collide.
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(packaged.master())
        .args(["-enc_time_base:v", "-1", "-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    packaged
}

fn defaults() -> HlsOptions {
    HlsOptions::default()
}

/// The time (first start, last end) each kind of stream covers in a file, from its packets.
#[derive(Debug, Default)]
struct Spans {
    video: Option<(f64, f64)>,
    audio: Option<(f64, f64)>,
}

fn spans(path: &Path) -> Spans {
    Spans {
        video: span(&packets(path, "v")),
        audio: span(&packets(path, "a")),
    }
}

/// (pts, duration) in seconds of the packets of the streams `select`ed ("v", "a") in a file,
/// in presentation order; a duration the file does not state counts as 0.
fn packets(path: &Path, select: &str) -> Vec<(f64, f64)> {
    let text = ffprobe(
        path,
        &format!(
            "-select_streams {select} -show_entries packet=pts_time,duration_time -of csv=p=0"
        ),
    );
    let mut packets: Vec<(f64, f64)> = (text.lines())
        .filter_map(|line| {
            let mut fields = line.split(',');
            let pts = fields.next()?.parse().ok()?;
            let duration = fields.next().and_then(|d| d.parse().ok()).unwrap_or(0.0);
            Some((pts, duration))
        })
        .collect();
    packets.sort_by(|a, b| a.0.total_cmp(&b.0));
    packets
}

/// From the first packet's start to the latest end of one.
fn span(packets: &[(f64, f64)]) -> Option<(f64, f64)> {
    let start = packets.first()?.0;
    let end = packets.iter().map(|(pts, d)| pts + d).fold(start, f64::max);
    Some((start, end))
}

/// The longest time one packet stands for: its duration, or the gap to the next one.
fn longest_frame(packets: &[(f64, f64)]) -> f64 {
    let gaps = packets.windows(2).map(|w| w[1].0 - w[0].0);
    packets
        .iter()
        .map(|(_, d)| *d)
        .chain(gaps)
        .fold(0.0, f64::max)
}

fn length(span: Option<(f64, f64)>) -> f64 {
    let (start, end) = span.expect("a stream of that kind");
    end - start
}

/// The source's duration and the played stream's agree within half a second.
fn assert_same_length(source: &Path, packaged: &Packaged) {
    let expected: f64 = ffprobe(source, "-show_entries format=duration -of csv=p=0")
        .trim()
        .parse()
        .unwrap();
    let spans = spans(&packaged.master());
    for span in [spans.video, spans.audio].into_iter().flatten() {
        let actual = span.1 - span.0;
        assert!(
            (actual - expected).abs() < 0.5,
            "{actual} s played of {expected} s: {spans:?}"
        );
    }
}

/// The playlist tells the time right: its total is the source's decoded length, and each
/// `#EXTINF` the length of its own segment, within one frame (the source's longest).
fn assert_playlist_durations(source: &Path, packaged: &Packaged) {
    // The muxer times segments by the video, if there is any.
    let select = match packaged.output.mode {
        HlsMode::AudioOnly => "a",
        _ => "v",
    };
    let source_packets = packets(source, select);
    let (start, end) = span(&source_packets).expect("a stream to time");
    let decoded = end - start;
    let frame = longest_frame(&source_packets) + 0.001;
    let durations = packaged.durations();
    let measured: Vec<f64> = (0..durations.len())
        .map(|n| length(span(&packets(&packaged.segment(n), select))))
        .collect();
    let total: f64 = durations.iter().sum();
    eprintln!(
        "{:?}: playlist total {total:.3} s, decoded {decoded:.3} s (frame {frame:.3} s); \
         #EXTINF {durations:.3?}, segments {measured:.3?}",
        source.file_name().unwrap()
    );
    assert!(
        (total - decoded).abs() <= frame,
        "playlist total {total:.3} s, decoded {decoded:.3} s: {}",
        packaged.index
    );
    for (n, (stated, own)) in durations.iter().zip(&measured).enumerate() {
        assert!(
            (stated - own).abs() <= frame,
            "segment {n} is {own:.3} s, its #EXTINF {stated:.3} s: {}",
            packaged.index
        );
    }
}

/// One decoded frame at `seconds`, as RGB bytes at `width`x`height`.
fn rgb_frame(path: &Path, seconds: f64, width: u32, height: u32) -> Vec<u8> {
    let dir = path.parent().unwrap();
    let args = format!(
        "-ss {seconds} -i {} -frames:v 1 -s {width}x{height} -f rawvideo -pix_fmt rgb24 -",
        path.display()
    );
    let frame = ffmpeg(dir, &args);
    assert_eq!(frame.len(), (width * height * 3) as usize);
    frame
}

/// Mean over pixels of max - min of the channels: 0 for greys.
fn colourfulness(rgb: &[u8]) -> f64 {
    let sum: u64 = rgb
        .chunks(3)
        .map(|p| u64::from(p.iter().max().unwrap() - p.iter().min().unwrap()))
        .sum();
    sum as f64 / (rgb.len() / 3) as f64
}

#[test]
fn h264_aac_mp4_is_remuxed_into_six_second_segments() {
    let dir = TempDir::new().unwrap();
    // Two-second GOPs: the cuts can only fall on 6 s.
    let args = format!("{} {} {H264} -g 50 -c:a aac -shortest", video(8), tone(8));
    let source = make(dir.path(), "a.mp4", &args);
    let p = package(&source, &defaults());
    assert_eq!(p.output.mode, HlsMode::Remux);
    assert_eq!((p.output.width, p.output.height), (Some(160), Some(120)));
    let durations = p.durations();
    assert_eq!(durations.len(), 2, "{}", p.index);
    assert!((durations[0] - 6.0).abs() < 0.05, "{durations:?}");
    assert!((p.output.duration_seconds - 8.0).abs() < 0.1);
    // ultrafast makes Constrained Baseline.
    assert!(p.master.contains("CODECS=\"avc1.42c0"), "{}", p.master);
    assert!(p.master.contains("mp4a.40.2\""), "{}", p.master);
    assert!(p.index.contains("#EXT-X-TARGETDURATION:6"), "{}", p.index);
    assert_eq!(p.segment_streams(), "h264,160,120,yuv420p\naac\n");
    assert_same_length(&source, &p);
}

#[test]
fn vp9_opus_webm_is_transcoded_to_h264_aac() {
    let dir = TempDir::new().unwrap();
    let args = format!(
        "{} {} -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 200k -c:a libopus -shortest",
        video(4),
        tone(4)
    );
    let source = make(dir.path(), "a.webm", &args);
    let p = package(&source, &defaults());
    assert_eq!(p.output.mode, HlsMode::Transcode);
    assert_eq!((p.output.width, p.output.height), (Some(160), Some(120)));
    assert_eq!(p.output.segments, 1);
    assert_eq!(p.segment_streams(), "h264,160,120,yuv420p\naac\n");
    assert!(p.master.contains("CODECS=\"avc1."), "{}", p.master);
    assert_same_length(&source, &p);
}

#[test]
fn hevc_mp4_is_transcoded() {
    let dir = TempDir::new().unwrap();
    let args = format!(
        "{} {} -c:v libx265 -preset ultrafast -x265-params log-level=error -c:a aac -shortest",
        video(8),
        tone(8)
    );
    let source = make(dir.path(), "a.mp4", &args);
    let p = package(&source, &defaults());
    assert_eq!(p.output.mode, HlsMode::Transcode);
    // The source has one keyframe; ours are placed for the cut at 6 s.
    let durations = p.durations();
    assert_eq!(durations.len(), 2, "{}", p.index);
    assert!((durations[0] - 6.0).abs() < 0.05, "{durations:?}");
    assert!(
        (p.output.duration_seconds - 8.0).abs() < 0.05,
        "{durations:?}"
    );
    assert_eq!(p.segment_streams(), "h264,160,120,yuv420p\naac\n");
    assert_same_length(&source, &p);
}

#[test]
fn rotated_phone_video_is_turned_upright() {
    let dir = TempDir::new().unwrap();
    let args = format!(
        "-f lavfi -i testsrc2=duration=2:size=320x240:rate=25 {} {H264} -c:a aac -shortest",
        tone(2)
    );
    make(dir.path(), "flat.mp4", &args);
    let source = make(
        dir.path(),
        "phone.mp4",
        "-i flat.mp4 -c copy -metadata:s:v:0 rotate=90",
    );
    let p = package(&source, &defaults());
    assert_eq!(p.output.mode, HlsMode::Transcode);
    assert_eq!((p.output.width, p.output.height), (Some(240), Some(320)));
    assert_eq!(p.segment_streams(), "h264,240,320,yuv420p\naac\n");
    // Turned the way players (and the ffmpeg CLI) show the source, not the other way.
    let ours = rgb_frame(&p.master(), 1.0, 240, 320);
    let upright = rgb_frame(&source, 1.0, 240, 320);
    let diff = mean_abs_diff(&ours, &upright);
    assert!(
        diff < 12.0,
        "differs from the CLI's upright picture by {diff}"
    );
    let flat = ffmpeg(
        dir.path(),
        "-ss 1 -i flat.mp4 -frames:v 1 -vf transpose=clock -s 240x320 -f rawvideo -pix_fmt rgb24 -",
    );
    assert!(mean_abs_diff(&flat, &upright) > 3.0 * diff.max(5.0));
    assert_same_length(&source, &p);
}

#[test]
fn tall_video_is_scaled_to_max_height() {
    let dir = TempDir::new().unwrap();
    let args = format!(
        "-f lavfi -i testsrc2=duration=1:size=1280x720:rate=25 {} {H264} -c:a aac -shortest",
        tone(1)
    );
    let source = make(dir.path(), "hd.mp4", &args);
    let options = HlsOptions {
        max_height: 360,
        ..defaults()
    };
    let p = package(&source, &options);
    // H.264/AAC, but too tall to copy.
    assert_eq!(p.output.mode, HlsMode::Transcode);
    assert_eq!((p.output.width, p.output.height), (Some(640), Some(360)));
    assert_eq!(p.segment_streams(), "h264,640,360,yuv420p\naac\n");
    assert!(p.master.contains("RESOLUTION=640x360"));
}

#[test]
fn mp3_with_cover_art_and_wav_are_audio_only() {
    let dir = TempDir::new().unwrap();
    make(
        dir.path(),
        "cover.png",
        "-f lavfi -i testsrc2=size=64x64 -frames:v 1",
    );
    let mp3_args = format!(
        "{} -i cover.png -map 0 -map 1 -c:a libmp3lame -c:v png -disposition:v attached_pic",
        tone(7)
    );
    let mp3 = make(dir.path(), "a.mp3", &mp3_args);
    let wav = make(
        dir.path(),
        "a.wav",
        &format!("{} -ac 2 -c:a pcm_s16le", tone(3)),
    );
    for source in [mp3, wav] {
        let p = package(&source, &defaults());
        assert_eq!(p.output.mode, HlsMode::AudioOnly);
        assert_eq!((p.output.width, p.output.height), (None, None));
        assert_eq!(p.segment_streams(), "aac\n");
        assert!(p.master.contains("CODECS=\"mp4a.40.2\""), "{}", p.master);
        assert_same_length(&source, &p);
    }
    // Segments of about the target length for audio too.
    let p = package(&dir.path().join("a.mp3"), &defaults());
    let durations = p.durations();
    assert_eq!(durations.len(), 2, "{}", p.index);
    assert!((durations[0] - 6.0).abs() < 0.1, "{durations:?}");
}

#[test]
fn aac_audio_is_copied() {
    let dir = TempDir::new().unwrap();
    let source = make(dir.path(), "a.m4a", &format!("{} -c:a aac", tone(2)));
    let p = package(&source, &defaults());
    assert_eq!(p.output.mode, HlsMode::AudioOnly);
    assert_eq!(p.segment_streams(), "aac\n");
    assert_same_length(&source, &p);
}

#[test]
fn h264_with_other_audio_keeps_the_video_and_mixes_the_audio_down() {
    let dir = TempDir::new().unwrap();
    let args = format!(
        "{} -f lavfi -i sine=duration=2 {H264} -af pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0 \
         -c:a ac3 -shortest",
        video(2)
    );
    let source = make(dir.path(), "a.mkv", &args);
    let p = package(&source, &defaults());
    // The picture is copied, but the stream is not a plain remux.
    assert_eq!(p.output.mode, HlsMode::Transcode);
    assert_eq!(p.segment_streams(), "h264,160,120,yuv420p\naac\n");
    let channels = ffprobe(
        &p.segment(0),
        "-select_streams a -show_entries stream=channels,sample_rate -of csv=p=0",
    );
    assert_eq!(channels.lines().next(), Some("44100,2"));
    assert_same_length(&source, &p);
}

#[test]
fn video_without_audio() {
    let dir = TempDir::new().unwrap();
    let h264 = make(dir.path(), "a.mp4", &format!("{} {H264}", video(2)));
    let p = package(&h264, &defaults());
    assert_eq!(p.output.mode, HlsMode::Remux);
    assert_eq!(p.segment_streams(), "h264,160,120,yuv420p\n");
    assert!(!p.master.contains("mp4a"), "{}", p.master);
    assert_same_length(&h264, &p);
    // And re-encoded (4:4:4 cannot be copied).
    let yuv444 = make(
        dir.path(),
        "b.mp4",
        &format!(
            "{} -c:v libx264 -preset ultrafast -pix_fmt yuv444p",
            video(2)
        ),
    );
    let p = package(&yuv444, &defaults());
    assert_eq!(p.output.mode, HlsMode::Transcode);
    assert_eq!(p.segment_streams(), "h264,160,120,yuv420p\n");
    assert_same_length(&yuv444, &p);
}

#[test]
fn hdr_pq_is_tone_mapped_to_sdr() {
    let dir = TempDir::new().unwrap();
    // testsrc2 as a PQ master whose white is 1000 nits, the usual HDR grade.
    let to_pq = "format=yuv444p,setparams=range=tv:color_primaries=bt709:color_trc=bt709:\
                 colorspace=bt709,zscale=t=linear:npl=100,format=gbrpf32le,\
                 zscale=p=2020:t=smpte2084:m=2020_ncl:r=tv:npl=1000,format=yuv420p10le";
    let args = format!(
        "{} -vf {to_pq} -c:v libx265 -preset ultrafast -pix_fmt yuv420p10le -x265-params \
         log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
        video(2)
    );
    let source = make(dir.path(), "pq.mp4", &args);
    let p = package(&source, &defaults());
    assert_eq!(p.output.mode, HlsMode::Transcode);
    assert_eq!(p.segment_streams(), "h264,160,120,yuv420p\n");
    assert_same_length(&source, &p);

    let sdr = make(dir.path(), "sdr.mp4", &format!("{} {H264}", video(2)));
    let reference = rgb_frame(&sdr, 1.0, 160, 120);
    let ours = rgb_frame(&p.master(), 1.0, 160, 120);
    // What a player shows when the PQ values are taken for SDR ones: grey and washed out.
    let naive = ffmpeg(
        dir.path(),
        "-ss 1 -i pq.mp4 -frames:v 1 -vf scale=160:120,format=yuv420p -f rawvideo -pix_fmt rgb24 -",
    );
    let (ours_diff, naive_diff) = (
        mean_abs_diff(&ours, &reference),
        mean_abs_diff(&naive, &reference),
    );
    let (ours_colour, naive_colour, reference_colour) = (
        colourfulness(&ours),
        colourfulness(&naive),
        colourfulness(&reference),
    );
    eprintln!(
        "difference from SDR: tone-mapped {ours_diff:.1}, naive {naive_diff:.1}; colourfulness: \
         tone-mapped {ours_colour:.1}, naive {naive_colour:.1}, SDR {reference_colour:.1}"
    );
    assert!(ours_diff < 40.0 && naive_diff > 2.0 * ours_diff);
    assert!(ours_colour > 0.75 * reference_colour);
    assert!(naive_colour < 0.5 * reference_colour);
}

#[test]
fn variable_frame_rate_stays_in_sync() {
    let dir = TempDir::new().unwrap();
    // 2 s at 30 fps, then 2 s at 10 fps: counting frames at either rate gets the time wrong.
    // (The other way round, the ffmpeg CLI takes the stream for 10 fps and complains when it
    // plays it, source and stream alike.)
    let args = format!(
        "-f lavfi -i testsrc2=size=160x120:rate=30:duration=2 \
         -f lavfi -i testsrc2=size=160x120:rate=10:duration=2 {} \
         -filter_complex [0:v][1:v]concat=n=2:v=1:a=0[v] -map [v] -map 2:a \
         -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus -fps_mode vfr",
        tone(4)
    );
    let source = make(dir.path(), "vfr.webm", &args);
    let options = HlsOptions {
        segment_seconds: 1.5,
        ..defaults()
    };
    let p = package(&source, &options);
    assert_eq!(p.output.mode, HlsMode::Transcode);
    // Keyframes are forced by time, so the cuts fall on 1.5 and 3 s at either rate.
    let durations = p.durations();
    assert_eq!(durations.len(), 3, "{}", p.index);
    for (actual, expected) in durations.iter().zip([1.5, 1.5, 1.0]) {
        assert!((actual - expected).abs() < 0.05, "{durations:?}");
    }
    let spans = spans(&p.master());
    let (video, audio) = (length(spans.video), length(spans.audio));
    assert!((video - 4.0).abs() < 0.15, "{spans:?}");
    assert!((video - audio).abs() < 0.1, "{spans:?}");
    let (v, a) = (spans.video.unwrap(), spans.audio.unwrap());
    assert!((v.0 - a.0).abs() < 0.1, "{spans:?}");
}

/// Frames 1/30 s apart for the first second, then 2/30 s apart, as phones record in low light.
const PHONE_VFR: &str = "setpts='if(lt(N,30),N,30+2*(N-30))/30/TB'";
/// Gaps of 1, 3 and 2 thirtieths of a second, over and over.
const UNEVEN_VFR: &str =
    "setpts='(6*floor(N/3)+if(eq(mod(N,3),1),1,if(eq(mod(N,3),2),4,0)))/30/TB'";
/// A freeze of half a second after every 40 frames at 30 fps, as when frames are dropped
/// (420 frames make 19 s).
const STUTTER_VFR: &str = "setpts='(N+15*floor(N/40))/30/TB'";

/// `frames` of testsrc2 at 30 fps with `setpts` timing, and a tone of `seconds`; the
/// timestamps are kept as they come (no frames duplicated or dropped, none rounded to a frame
/// rate's time base).
fn vfr_clip(frames: u32, setpts: &str, seconds: u32) -> String {
    format!(
        "-f lavfi -i testsrc2=size=160x120:rate=30:duration={} {} -vf {setpts} \
         -fps_mode passthrough -enc_time_base:v -1",
        f64::from(frames) / 30.0,
        tone(seconds)
    )
}

#[test]
fn remuxed_variable_frame_rate_has_true_durations() {
    let dir = TempDir::new().unwrap();
    let clips = [
        // The 4 s phone clip: 75 frames, which at a nominal 30 fps would be 2.5 s.
        (
            "phone4.mp4",
            vfr_clip(75, PHONE_VFR, 4),
            "-c:v libx264 -pix_fmt yuv420p",
        ),
        ("phone4-ultrafast.mp4", vfr_clip(75, PHONE_VFR, 4), H264),
        // 18 s of each pattern, with libx264's B-frames, in several segments.
        (
            "phone.mp4",
            vfr_clip(285, PHONE_VFR, 18),
            "-c:v libx264 -pix_fmt yuv420p -g 30",
        ),
        (
            "uneven.mp4",
            vfr_clip(270, UNEVEN_VFR, 18),
            "-c:v libx264 -pix_fmt yuv420p -g 45",
        ),
        (
            "stutter.mp4",
            vfr_clip(420, STUTTER_VFR, 19),
            "-c:v libx264 -pix_fmt yuv420p",
        ),
    ];
    for (name, inputs, video_codec) in clips {
        let source = make(
            dir.path(),
            name,
            &format!("{inputs} {video_codec} -c:a aac"),
        );
        let p = package(&source, &defaults());
        assert_eq!(p.output.mode, HlsMode::Remux);
        assert_playlist_durations(&source, &p);
        assert_same_length(&source, &p);
    }
}

#[test]
fn transcoded_variable_frame_rate_has_true_durations() {
    let dir = TempDir::new().unwrap();
    let vp9 = "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 200k -c:a libopus";
    let clips = [
        ("phone4.webm", vfr_clip(75, PHONE_VFR, 4), vp9),
        ("uneven.webm", vfr_clip(270, UNEVEN_VFR, 18), vp9),
        ("stutter.webm", vfr_clip(420, STUTTER_VFR, 19), vp9),
        // MPEG-4 Part 2 with B-frames, and AAC that is copied.
        (
            "phone.mp4",
            vfr_clip(285, PHONE_VFR, 18),
            "-c:v mpeg4 -bf 2 -c:a aac",
        ),
    ];
    for (name, inputs, codecs) in clips {
        let source = make(dir.path(), name, &format!("{inputs} {codecs}"));
        let p = package(&source, &defaults());
        assert_eq!(p.output.mode, HlsMode::Transcode);
        assert_playlist_durations(&source, &p);
        assert_same_length(&source, &p);
    }
}

#[test]
fn late_start_is_not_counted_in_durations() {
    let dir = TempDir::new().unwrap();
    let clips = [
        (
            "late.mp4",
            "-c:v libx264 -pix_fmt yuv420p -g 45 -c:a aac",
            HlsMode::Remux,
        ),
        (
            "late.webm",
            "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 200k -c:a libopus",
            HlsMode::Transcode,
        ),
    ];
    for (name, codecs, mode) in clips {
        let args = format!(
            "{} {codecs} -output_ts_offset 10",
            vfr_clip(270, UNEVEN_VFR, 18)
        );
        let source = make(dir.path(), name, &args);
        let start: f64 = ffprobe(&source, "-show_entries format=start_time -of csv=p=0")
            .trim()
            .parse()
            .unwrap();
        assert!(start > 9.9, "{name} starts at {start} s");
        let p = package(&source, &defaults());
        assert_eq!(p.output.mode, mode);
        // (The format's duration counts the 10 s before the start: not a length to compare.)
        assert_playlist_durations(&source, &p);
    }
}

#[test]
fn audio_only_has_true_durations() {
    let dir = TempDir::new().unwrap();
    for (name, codec) in [
        ("a.m4a", "aac"),
        ("a.opus", "libopus"),
        ("a.mp3", "libmp3lame"),
    ] {
        let source = make(dir.path(), name, &format!("{} -c:a {codec}", tone(15)));
        let p = package(&source, &defaults());
        assert_eq!(p.output.mode, HlsMode::AudioOnly);
        assert!(p.output.segments >= 3, "{}", p.index);
        assert_playlist_durations(&source, &p);
    }
}

#[test]
fn truncated_mp4_is_invalid_input() {
    let dir = TempDir::new().unwrap();
    let args = format!("{} {} {H264} -c:a aac -shortest", video(2), tone(2));
    let whole = make(dir.path(), "whole.mp4", &args);
    let bytes = fs::read(&whole).unwrap();
    let cut = write(dir.path(), "cut.mp4", &bytes[..bytes.len() / 2]);
    let out = TempDir::new().unwrap();
    let err = hls(&cut, out.path(), &defaults()).unwrap_err();
    assert_eq!(err.kind, MediaErrorKind::InvalidInput, "{err:?}");
    assert!(!err.message.contains(dir.path().to_str().unwrap()));
    assert!(err.message.ends_with('.'), "{}", err.message);
}

#[test]
fn image_is_unsupported() {
    let dir = TempDir::new().unwrap();
    let png = make(
        dir.path(),
        "a.png",
        "-f lavfi -i testsrc2=size=64x64 -frames:v 1",
    );
    let out = TempDir::new().unwrap();
    let err = hls(&png, out.path(), &defaults()).unwrap_err();
    assert_eq!(err.kind, MediaErrorKind::Unsupported, "{err:?}");
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn output_folder_must_be_empty_and_options_sane() {
    let dir = TempDir::new().unwrap();
    let source = make(dir.path(), "a.m4a", &format!("{} -c:a aac", tone(1)));
    let out = TempDir::new().unwrap();
    fs::write(out.path().join("stale.ts"), b"x").unwrap();
    let err = hls(&source, out.path(), &defaults()).unwrap_err();
    assert_eq!(err.kind, MediaErrorKind::System, "{err:?}");
    let empty = TempDir::new().unwrap();
    let silly = HlsOptions {
        segment_seconds: f64::NAN,
        ..defaults()
    };
    assert_eq!(
        hls(&source, empty.path(), &silly).unwrap_err().kind,
        MediaErrorKind::System
    );
}

/// Not a check: how long a 60 s 1080p30 H.264/AAC file (117 MB) takes against
/// `ffmpeg -c copy -f hls`. Run with `cargo test -p assetd-media --test hls -- --ignored
/// --nocapture`. On the 2-core development machine (debug build; libav does the work):
/// remux 0.30 s (ffmpeg CLI 0.47 s, process start included), transcode to 720p 35 s (the CLI's
/// `-vf scale=1280:720 -c:v libx264 -preset veryfast` takes as long); peak RSS 67 MB for the
/// remux and 188 MB for the transcode, the same for 15 s as for 60 s of input.
#[test]
#[ignore]
fn timing_of_a_minute_of_1080p() {
    let dir = TempDir::new().unwrap();
    let args = "-f lavfi -i testsrc2=duration=60:size=1920x1080:rate=30 -f lavfi \
                -i sine=duration=60 -c:v libx264 -preset ultrafast -g 60 -pix_fmt yuv420p \
                -c:a aac -shortest";
    let source = make(dir.path(), "hd.mp4", args);
    for (label, options) in [
        ("remux", defaults()),
        (
            "transcode to 720p",
            HlsOptions {
                max_height: 720,
                ..defaults()
            },
        ),
    ] {
        let out = TempDir::new().unwrap();
        let started = Instant::now();
        let output = hls(&source, out.path(), &options).unwrap();
        eprintln!("hls() {label}: {:?} ({output:?})", started.elapsed());
    }
    let out = TempDir::new().unwrap();
    let started = Instant::now();
    ffmpeg(
        out.path(),
        &format!(
            "-i {} -c copy -f hls -hls_time 6 -hls_playlist_type vod index.m3u8",
            source.display()
        ),
    );
    eprintln!("ffmpeg -c copy -f hls: {:?}", started.elapsed());
}

#[test]
fn damage_in_the_middle_is_skipped_or_reported() {
    let dir = TempDir::new().unwrap();
    for (name, codecs) in [
        (
            "a.mkv",
            "-c:v libx264 -preset ultrafast -pix_fmt yuv444p -c:a libopus",
        ),
        (
            "a.mp4",
            "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac",
        ),
    ] {
        let args = format!("{} {} {codecs} -shortest", video(4), tone(4));
        let path = make(dir.path(), name, &args);
        let mut bytes = fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle..middle + 4000].copy_from_slice(&noise(0x2545_F491_4F6C_DD1D, 4000));
        let damaged = write(dir.path(), &format!("damaged-{name}"), &bytes);
        let out = TempDir::new().unwrap();
        let result = hls(&damaged, out.path(), &defaults());
        eprintln!("{name} damaged: {result:?}");
        match result {
            Ok(output) => assert!(output.duration_seconds > 1.0, "{output:?}"),
            Err(e) => {
                assert_eq!(e.kind, MediaErrorKind::InvalidInput, "{e:?}");
                assert!(!e.message.contains(dir.path().to_str().unwrap()));
            }
        }
    }
}
