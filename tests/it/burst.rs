//! A burst of uploads with readers alongside: everything succeeds and the
//! readers are served throughout. Latency is printed for the record, not
//! asserted (timing belongs in benchmarks on these shared machines).

use std::time::{Duration, Instant};

use crate::common::{direct_form, fixtures, TestApp};

#[tokio::test]
async fn fifty_concurrent_uploads_with_twenty_readers_all_succeed() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let (_, first) = app.upload(&fixtures().path("frame.png")).await;
    let probe_id = first["_id"].as_str().unwrap().to_string();

    let uploads: Vec<_> = (0..50)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let name = ["clip.mp4", "tone.mp3", "frame.png", "tone.wav", "frame.jpg"][i % 5];
                let form = direct_form(&fixtures().path(name)).text("enable_thumbnail", "true");
                app.create(form).await
            })
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let (app, stop, id) = (app.clone(), stop.clone(), probe_id.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let started = Instant::now();
                    let (status, _) = app.get(&format!("/assets/{id}")).await;
                    assert_eq!(status, 200);
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();

    for upload in uploads {
        let (status, body) = upload.await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "ready", "{body}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut latencies: Vec<Duration> = Vec::new();
    for reader in readers {
        latencies.extend(reader.await.unwrap());
    }
    assert!(!latencies.is_empty());
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "burst: {} reads during 50 uploads, p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
    assert_eq!(app.asset_count().await, 51);
}
