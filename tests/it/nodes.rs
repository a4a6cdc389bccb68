//! Several nodes on one PostgreSQL database and one store of files (one data
//! dir, or on S3 one bucket and a data dir each): two that take requests and
//! one that only runs jobs. Runs when the suite runs on PostgreSQL (the
//! README's test command does); skipped on SQLite, which is one server's
//! database.

use std::time::Duration;

use crate::common::{
    assert_error, begin_raw_upload, bucket_keys, bucket_name, direct_form, fixtures, joining,
    played_seconds, s3_server, signal, thumbnail_url, wait_until_settled, MediaChildWatch, TestApp,
    NO_WORKERS, SHORT_LEASE,
};

#[tokio::test]
async fn api_nodes_and_a_worker_node_share_the_work_and_take_over_a_dead_nodes_job() {
    if crate::common::skip_without_postgres() {
        return;
    }
    let mut api_env = NO_WORKERS.to_vec();
    api_env.push(SHORT_LEASE);
    let a = TestApp::spawn_with(&api_env).await;
    let database = a.database_url();
    let bucket = bucket_name(a.data_dir.path());
    let worker = TestApp::spawn_worker(&joining(&a, &database, &bucket, &[SHORT_LEASE])).await;
    let watch = MediaChildWatch::start();

    // The worker node serves no API, only its health.
    let (status, body) = worker.get("/assets").await;
    assert_error(status, &body, 404, "resource_not_exist");
    let health = reqwest::get(format!("{}/healthz", worker.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // An upload through node A; its HLS is made by the worker node.
    let (status, created) = a
        .create(direct_form(&fixtures().path("slow.avi")).text("enable_hls", "true"))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "ready", "{created}");
    let first = created["_id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while watch.runs_of("hls", &first).pids.is_empty() {
        let (_, asset) = a.get(&format!("/assets/{first}")).await;
        assert_ne!(asset["hls"]["status"], "ready", "killed too late: {asset}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no node started the HLS job: {asset}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The worker node dies in the middle of the transcode.
    signal(worker.pid(), "KILL");
    let (code, _, _) = worker.stop_after_kill().await;
    assert_eq!(code, None);

    // Node B takes requests and runs jobs: it takes the HLS job over once the
    // dead node's lease runs out, while both API nodes take uploads.
    let b = TestApp::spawn_with(&joining(&a, &database, &bucket, &[SHORT_LEASE])).await;
    let form = direct_form(&fixtures().path("frame.png")).text("enable_thumbnail", "true");
    let (status, created) = b.create(form).await;
    assert_eq!(status, 201, "{created}");
    let second = created["_id"].as_str().unwrap().to_string();

    // Each node reads what the other took in, and serves its media URLs.
    let (status, seen_on_a) = a.get(&format!("/assets/{second}")).await;
    assert_eq!((status, &seen_on_a["_id"]), (200, &created["_id"]));
    let settled = wait_until_settled(&a, &second).await;
    assert_eq!(settled["thumbnail"]["status"], "ready", "{settled}");
    let url = thumbnail_url(&a, &second, &[]).await;
    let on_b = format!("{}{}", b.base, &url[url.find("/media/").unwrap()..]);
    assert_eq!(reqwest::get(&on_b).await.unwrap().status(), 200);

    let done = wait_until_settled(&b, &first).await;
    assert_eq!(
        done["hls"]["status"], "ready",
        "the dead node's job was finished: {done}"
    );
    let manifest = done["hls"]["manifest_url"].as_str().unwrap();
    let played = played_seconds(manifest);
    assert!(
        (played - 10.0).abs() < 0.5,
        "the whole stream plays: {played} s"
    );
    // Node A may have kept the asset as it was while processing: it shows
    // the change once PostgreSQL notifies it (tests/it/read_cache.rs).
    let on_a = wait_until_settled(&a, &first).await;
    assert_eq!(on_a["hls"]["status"], "ready", "{on_a}");

    // No job ran twice at once: at most one media child per task and asset
    // was ever alive, and the HLS job did run twice (the killed node's try,
    // then node B's).
    let runs = watch.stop().await;
    for ((task, asset), seen) in &runs {
        assert_eq!(
            seen.most_at_once, 1,
            "{task} of {asset} ran twice at once: {seen:?}"
        );
    }
    let hls = &runs[&("hls".to_string(), first.clone())];
    assert_eq!(hls.pids.len(), 2, "the HLS job's two runs: {hls:?}");

    // Node A dies in the middle of an upload: no asset comes of it.
    let mut file = std::fs::read(fixtures().path("clip.mp4")).unwrap();
    file.extend(vec![0u8; 8 << 20]);
    let (stream, _) = begin_raw_upload(&a, &file, Some(1 << 30), 1000).await;
    signal(a.pid(), "KILL");
    let (_, data_dir, _) = a.stop_after_kill().await;
    drop(stream);
    assert_eq!(b.asset_count().await, 2, "no row for the cut-off upload");
    let folders = std::fs::read_dir(data_dir.path().join("assets"))
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .filter(|folder| {
            let name = folder.as_ref().unwrap().file_name();
            name != first.as_str() && name != second.as_str()
        })
        .count();
    assert_eq!(folders, 0, "no asset folder for the cut-off upload");
    if s3_server().is_some() {
        // Its multipart upload stays until a node's hourly sweep finds it a
        // day old (it was never completed, so it is no object).
        let mut assets: Vec<String> = bucket_keys(data_dir.path())
            .await
            .iter()
            .filter_map(|key| Some(key.strip_prefix("assets/")?.split('/').next()?.to_string()))
            .collect();
        assets.dedup();
        assert_eq!(
            assets.len(),
            2,
            "no object for the cut-off upload: {assets:?}"
        );
    }
}

/// Nodes started at once on a database that does not exist yet: one creates
/// it, they take turns migrating it (sqlx holds an advisory lock), and all
/// come up on the same data.
#[tokio::test]
async fn nodes_starting_at_once_on_a_new_database_all_come_up() {
    if crate::common::skip_without_postgres() {
        return;
    }
    let shared = tempfile::tempdir().unwrap();
    let database = crate::common::database_url(shared.path());
    let env = [
        ("ASSETD_DATA_DIR", shared.path().to_str().unwrap()),
        ("ASSETD_DATABASE_URL", database.as_str()),
    ];
    let (a, b, c) = tokio::join!(
        TestApp::spawn_with(&env),
        TestApp::spawn_with(&env),
        TestApp::spawn_worker(&env),
    );
    let (status, created) = a.upload(&fixtures().path("frame.png")).await;
    assert_eq!(status, 201, "{created}");
    let id = created["_id"].as_str().unwrap();
    let (status, seen) = b.get(&format!("/assets/{id}")).await;
    assert_eq!((status, &seen["_id"]), (200, &created["_id"]));
    let health = reqwest::get(format!("{}/healthz", c.base)).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// A worker node that polls once a minute still starts a job another node
/// queued at once: PostgreSQL's notification wakes it.
#[tokio::test]
async fn a_job_queued_by_one_node_wakes_an_idle_worker_on_another() {
    if crate::common::skip_without_postgres() {
        return;
    }
    let a = TestApp::spawn_with(&NO_WORKERS).await;
    let database = a.database_url();
    let bucket = bucket_name(a.data_dir.path());
    let slow_poll = [("ASSETD_JOB_POLL_SECS", "60")];
    let _worker = TestApp::spawn_worker(&joining(&a, &database, &bucket, &slow_poll)).await;
    // Let the worker find nothing to do and settle into its minute of waiting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let form = direct_form(&fixtures().path("frame.png")).text("enable_thumbnail", "true");
    let (status, created) = a.create(form).await;
    assert_eq!(status, 201, "{created}");
    let id = created["_id"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, asset) = a.get(&format!("/assets/{id}")).await;
        if asset["thumbnail"]["status"] == "ready" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker was not woken (it polls once a minute): {asset}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A filename filter's total counts another node's uploads and deletes as
/// soon as they commit: node A keeps no answers (`--read-cache-secs 0`, the
/// strict reads across nodes that the README offers), and its count reads
/// the filename changes that no node has folded yet.
#[tokio::test]
async fn a_filename_total_on_one_node_follows_another_nodes_changes_at_once() {
    if crate::common::skip_without_postgres() {
        return;
    }
    let a = TestApp::spawn_with(&[("ASSETD_READ_CACHE_SECS", "0")]).await;
    let database = a.database_url();
    let bucket = bucket_name(a.data_dir.path());
    let b = TestApp::spawn_with(&joining(&a, &database, &bucket, &[])).await;
    let total_on_a = |query: &'static str| {
        let a = &a;
        async move {
            let (status, page) = a.get(&format!("/assets?{query}")).await;
            assert_eq!(status, 200, "{page}");
            page["page_info"]["total_results"].as_u64().unwrap()
        }
    };
    let upload_on_b = |name: &'static str| {
        let b = &b;
        async move {
            let form = direct_form(&fixtures().path("frame.png")).text("filename", name);
            let (status, created) = b.create(form).await;
            assert_eq!(status, 201, "{created}");
            created["_id"].as_str().unwrap().to_string()
        }
    };

    upload_on_b("Harbour at dawn.png").await;
    assert_eq!(total_on_a("filename=harbour").await, 1);
    assert_eq!(total_on_a("filename=harbour&asset_types=image").await, 1);

    let second = upload_on_b("harbour at dusk.png").await;
    assert_eq!(total_on_a("filename=harbour").await, 2);
    assert_eq!(total_on_a("filename=harbour&asset_types=image").await, 2);
    let (status, _) = b.delete(&format!("/assets/{second}")).await;
    assert_eq!(status, 204);
    assert_eq!(total_on_a("filename=harbour").await, 1);
    assert_eq!(total_on_a("filename=harbour&asset_types=image").await, 1);
}
