//! Every kind of input the media pipeline meets, end to end over HTTP: upload
//! with both steps, check the metadata, decode the thumbnail, play the HLS.

use serde_json::Value;

use crate::common::{
    direct_form, fetch_thumbnail, ffprobe, fixtures, played_seconds, wait_until_settled, TestApp,
};

struct Case {
    file: &'static str,
    kind: &'static str,
    /// The thumbnail's size once decoded (orientation and aspect checked by it).
    thumbnail: (u32, u32),
    /// Seconds the HLS stream plays (None: images, no stream).
    plays: Option<f64>,
    /// A check of the technical metadata.
    metadata: fn(&Value),
}

const CASES: &[Case] = &[
    Case {
        file: "clip.mp4",
        kind: "video",
        thumbnail: (320, 240),
        plays: Some(2.0),
        metadata: |m| assert_eq!(m["video_codec"], "h264"),
    },
    Case {
        file: "clip.webm",
        kind: "video",
        thumbnail: (320, 240),
        plays: Some(2.0),
        metadata: |m| assert_eq!(m["video_codec"], "vp9"),
    },
    Case {
        file: "hevc.mp4",
        kind: "video",
        thumbnail: (320, 240),
        plays: Some(2.0),
        metadata: |m| assert_eq!(m["video_codec"], "hevc"),
    },
    // The display matrix turns it upright: portrait.
    Case {
        file: "rotated.mp4",
        kind: "video",
        thumbnail: (240, 320),
        plays: Some(2.0),
        metadata: |m| assert!(m["video_streams"][0]["rotation"].as_i64().unwrap() % 180 == 90),
    },
    Case {
        file: "silent.mp4",
        kind: "video",
        thumbnail: (320, 240),
        plays: Some(2.0),
        metadata: |m| assert_eq!(m["has_audio"], false),
    },
    Case {
        file: "tone.mp3",
        kind: "audio",
        thumbnail: (640, 160),
        plays: Some(2.0),
        metadata: |m| assert_eq!(m["audio_codec"], "mp3"),
    },
    Case {
        file: "tone.wav",
        kind: "audio",
        thumbnail: (640, 160),
        plays: Some(2.0),
        metadata: |m| assert_eq!(m["audio_channels"], 1),
    },
    // The cover art is the thumbnail, and is not taken for a video stream.
    Case {
        file: "cover.mp3",
        kind: "audio",
        thumbnail: (64, 48),
        plays: Some(2.0),
        metadata: |m| assert_eq!(m["total_video_streams"], 0),
    },
    Case {
        file: "alpha.png",
        kind: "image",
        thumbnail: (64, 48),
        plays: None,
        metadata: |m| assert_eq!(m["has_alpha"], true),
    },
    Case {
        file: "anim.gif",
        kind: "image",
        thumbnail: (64, 48),
        plays: None,
        metadata: |m| assert_eq!(m["is_animated"], true),
    },
    Case {
        file: "frame.jpg",
        kind: "image",
        thumbnail: (64, 48),
        plays: None,
        metadata: |m| assert_eq!(m["image_format"], "jpeg"),
    },
];

#[tokio::test]
async fn every_kind_of_input_gets_metadata_a_thumbnail_and_a_playable_stream() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for case in CASES {
        let form = direct_form(&fixtures().path(case.file))
            .text("enable_hls", "true")
            .text("enable_thumbnail", "true");
        let (status, body) = app.create(form).await;
        assert_eq!(status, 201, "{}: {body}", case.file);
        created.push(body["_id"].as_str().unwrap().to_string());
    }
    for (case, id) in CASES.iter().zip(&created) {
        let asset = wait_until_settled(&app, id).await;
        let file = case.file;
        assert_eq!(asset["status"], "ready", "{file}: {asset}");
        let (_, listed) = app
            .get(&format!("/assets?asset_ids={id}&asset_types={}", case.kind))
            .await;
        assert_eq!(
            listed["data"].as_array().unwrap().len(),
            1,
            "{file} is a {}",
            case.kind
        );
        (case.metadata)(&asset["technical_metadata"]);

        assert_eq!(asset["thumbnail"]["status"], "ready", "{file}: {asset}");
        let picture = fetch_thumbnail(&asset).await;
        assert_eq!(
            (picture.width(), picture.height()),
            case.thumbnail,
            "{file}: thumbnail size"
        );

        match case.plays {
            None => assert!(asset.get("hls").is_none(), "{file}: no HLS for images"),
            Some(seconds) => {
                assert_eq!(asset["hls"]["status"], "ready", "{file}: {asset}");
                let manifest = asset["hls"]["manifest_url"].as_str().unwrap();
                let played = played_seconds(manifest);
                assert!(
                    (played - seconds).abs() < 0.5,
                    "{file}: plays {played} s, not {seconds}"
                );
                if file == "hdr.mp4" {
                    let format = ffprobe(manifest, "stream=codec_name,pix_fmt,color_transfer");
                    let video = format
                        .lines()
                        .find(|l| l.starts_with("h264"))
                        .unwrap_or_else(|| panic!("{file}: no H.264 stream: {format}"));
                    assert!(
                        video.contains("yuv420p") && !video.contains("10le"),
                        "{file}: 8-bit 4:2:0 out: {video}"
                    );
                    assert!(
                        !video.contains("smpte2084"),
                        "{file}: tone-mapped to SDR, not PQ: {video}"
                    );
                }
                if file == "rotated.mp4" {
                    let size = ffprobe(manifest, "stream=width,height");
                    let dims: Vec<u32> = size
                        .lines()
                        .next()
                        .unwrap()
                        .split(',')
                        .map(|v| v.parse().unwrap())
                        .collect();
                    assert!(
                        dims[1] > dims[0],
                        "{file}: the stream is upright (portrait): {size}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn broken_inputs_end_in_error_with_a_message_and_nothing_crashes() {
    let app = TestApp::spawn().await;
    for file in ["truncated.mp4", "garbage.mp4"] {
        let form = direct_form(&fixtures().path(file))
            .text("enable_hls", "true")
            .text("enable_thumbnail", "true");
        let (status, created) = app.create(form).await;
        assert_eq!(status, 201, "{file}: {created}");
        assert_eq!(created["status"], "failed", "{file}: {created}");
        assert!(!created["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(created["hls"]["status"], "error", "{file}: {created}");
        assert_eq!(created["thumbnail"]["status"], "error", "{file}: {created}");
    }
    // A decompression bomb's header probes, but its thumbnail is refused, quickly.
    let form = direct_form(&fixtures().path("huge.png")).text("enable_thumbnail", "true");
    let (_, created) = app.create(form).await;
    let asset = wait_until_settled(&app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["technical_metadata"]["image_width"], 20000);
    assert_eq!(asset["thumbnail"]["status"], "error", "{asset}");
    let message = asset["thumbnail"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("20000x20000"), "{message}");
    // The server is unharmed.
    let (status, _) = app.get("/assets").await;
    assert_eq!(status, 200);
}
