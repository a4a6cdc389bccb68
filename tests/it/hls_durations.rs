//! The HLS playlist of a variable-frame-rate video states the time its segments hold, as a
//! player fetches them: master playlist, media playlist, every segment.

use std::path::Path;

use crate::common::{direct_form, fixtures, wait_until_settled, TestApp};

/// (pts, duration) in seconds of the video packets of a file, in presentation order.
fn video_packets(path: &Path) -> Vec<(f64, f64)> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v"])
        .args([
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "ffprobe {path:?}");
    let mut packets: Vec<(f64, f64)> = (String::from_utf8(out.stdout).unwrap().lines())
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
fn length(packets: &[(f64, f64)]) -> f64 {
    let start = packets.first().expect("video packets").0;
    let end = packets.iter().map(|(pts, d)| pts + d).fold(start, f64::max);
    end - start
}

/// The longest time one frame stands for: its duration, or the gap to the next one.
fn longest_frame(packets: &[(f64, f64)]) -> f64 {
    let gaps = packets.windows(2).map(|w| w[1].0 - w[0].0);
    packets
        .iter()
        .map(|(_, d)| *d)
        .chain(gaps)
        .fold(0.0, f64::max)
}

async fn fetch(url: &str) -> reqwest::Response {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response
}

#[tokio::test]
async fn a_variable_frame_rate_video_has_true_segment_durations() {
    let source = fixtures().path("vfr.mp4");
    let app = TestApp::spawn().await;
    let form = direct_form(&source).text("enable_hls", "true");
    let (status, created) = app.create(form).await;
    assert_eq!(status, 201, "{created}");
    let asset = wait_until_settled(&app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["hls"]["status"], "ready", "{asset}");

    // Relative URIs resolve next to the playlist that names them, under its signature.
    let master_url = asset["hls"]["manifest_url"].as_str().unwrap();
    let base = &master_url[..=master_url.rfind('/').unwrap()];
    let master = fetch(master_url).await.text().await.unwrap();
    let variant = (master.lines())
        .skip_while(|l| !l.starts_with("#EXT-X-STREAM-INF:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no variant: {master}"));
    let index = fetch(&format!("{base}{variant}"))
        .await
        .text()
        .await
        .unwrap();
    let mut stated = Vec::new();
    let mut uris = Vec::new();
    for line in index.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            stated.push(rest.trim_end_matches(',').parse::<f64>().unwrap());
        } else if !line.starts_with('#') && !line.is_empty() {
            uris.push(line);
        }
    }
    assert_eq!(stated.len(), uris.len(), "{index}");
    assert!(uris.len() >= 3, "several segments: {index}");

    let dir = tempfile::tempdir().unwrap();
    let mut measured = Vec::new();
    for uri in &uris {
        let bytes = fetch(&format!("{base}{uri}")).await.bytes().await.unwrap();
        let path = dir.path().join("segment.ts");
        std::fs::write(&path, &bytes).unwrap();
        measured.push(length(&video_packets(&path)));
    }

    let source_packets = video_packets(&source);
    let decoded = length(&source_packets);
    let frame = longest_frame(&source_packets) + 0.001;
    let total: f64 = stated.iter().sum();
    eprintln!(
        "playlist total {total:.3} s, decoded {decoded:.3} s (frame {frame:.3} s); \
         #EXTINF {stated:.3?}, segments {measured:.3?}"
    );
    assert!(
        (total - decoded).abs() <= frame,
        "playlist total {total:.3} s, decoded {decoded:.3} s: {index}"
    );
    for (n, (stated, own)) in stated.iter().zip(&measured).enumerate() {
        assert!(
            (stated - own).abs() <= frame,
            "segment {n} holds {own:.3} s, its #EXTINF says {stated:.3} s: {index}"
        );
    }
}
