use std::collections::HashSet;

use serde_json::Value;

use crate::common::{assert_error, direct_form, fixtures, TestApp};

async fn upload_named(app: &TestApp, fixture: &str, name: &str) -> String {
    let form = direct_form(&fixtures().path(fixture)).text("filename", name.to_string());
    let (status, body) = app.create(form).await;
    assert_eq!(status, 201, "{body}");
    body["_id"].as_str().unwrap().to_string()
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn listing_pages_filters_and_sorts_newest_first() {
    let app = TestApp::spawn().await;
    let percent = upload_named(&app, "clip.mp4", "100%_Real.mp4").await;
    let other = upload_named(&app, "clip.webm", "100x real.webm").await;
    let song = upload_named(&app, "tone.mp3", "Song.MP3").await;
    let wav = upload_named(&app, "tone.wav", "take_2.wav").await;
    let png = upload_named(&app, "frame.png", "cover.png").await;
    let created = vec![
        png.clone(),
        wav.clone(),
        song.clone(),
        other.clone(),
        percent.clone(),
    ];

    let (status, all) = app.get("/assets").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&all), created, "newest first");
    assert_eq!(all["page_info"]["total_results"], 5);
    assert_eq!(all["page_info"]["page"], 1);
    assert_eq!(all["page_info"]["limit_per_page"], 10);
    assert_eq!(all["page_info"]["total_page"], 1);

    // Paging covers every asset exactly once, and a page past the end is empty.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (_, body) = app.get(&format!("/assets?page={page}&page_limit=2")).await;
        assert_eq!(body["page_info"]["total_page"], 3);
        seen.extend(ids(&body));
    }
    assert_eq!(seen, created);
    let (status, past) = app.get("/assets?page=4&page_limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(past["data"], serde_json::json!([]));

    let cases: Vec<(&str, Vec<&String>)> = vec![
        ("asset_types=video", vec![&other, &percent]),
        (
            "asset_types=video&asset_types=image",
            vec![&png, &other, &percent],
        ),
        ("asset_types=audio,image", vec![&png, &wav, &song]),
        ("filename=REAL", vec![&other, &percent]),
        ("filename=%25", vec![&percent]),
        ("filename=0%25_", vec![&percent]),
        ("filename=_", vec![&wav, &percent]),
        ("filename=song.mp3", vec![&song]),
        ("filename=nothing-like-this", vec![]),
        // The platform's document type is a valid filter; this server stores no documents.
        ("asset_types=document", vec![]),
        ("asset_types=document,audio", vec![&wav, &song]),
    ];
    for (query, want) in cases {
        let (status, body) = app.get(&format!("/assets?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        let want: Vec<String> = want.into_iter().cloned().collect();
        assert_eq!(ids(&body), want, "{query}");
        assert_eq!(body["page_info"]["total_results"], want.len(), "{query}");
    }
    let (_, body) = app
        .get(&format!("/assets?asset_ids={song}&asset_ids={png}"))
        .await;
    assert_eq!(ids(&body), vec![png.clone(), song.clone()]);
    let (_, body) = app
        .get(&format!(
            "/assets?asset_ids={song},{wav}&asset_types=audio&filename=take"
        ))
        .await;
    assert_eq!(ids(&body), vec![wav.clone()]);
}

#[tokio::test]
async fn bad_list_parameters_are_named() {
    let app = TestApp::spawn().await;
    for (query, name) in [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=-1", "page"),
        ("page_limit=51", "page_limit"),
        ("page_limit=0", "page_limit"),
        ("asset_ids=not-an-id", "asset_ids"),
    ] {
        let (status, body) = app.get(&format!("/assets?{query}")).await;
        let message = assert_error(status, &body, 400, "parameter_invalid");
        assert!(message.contains(name), "{query}: {message}");
    }
    let (status, body) = app.get("/assets?asset_types=video&asset_types=movie").await;
    let message = assert_error(status, &body, 400, "parameter_unknown");
    assert!(
        message.contains("asset_types") && message.contains("movie"),
        "{message}"
    );
}

#[tokio::test]
async fn accounts_see_only_their_own_assets() {
    let app = TestApp::spawn().await;
    let mine = upload_named(&app, "tone.mp3", "mine.mp3").await;
    let other_key = app.key_for("other").await;
    let (status, theirs) = app
        .create_as(&other_key, direct_form(&fixtures().path("tone.wav")))
        .await;
    assert_eq!(status, 201);
    let theirs = theirs["_id"].as_str().unwrap().to_string();

    let (_, listed) = app.get("/assets").await;
    assert_eq!(ids(&listed), vec![mine.clone()]);
    // A name both accounts hold: each counts and lists only its own.
    let (status, _) = app
        .create_as(
            &other_key,
            direct_form(&fixtures().path("tone.mp3")).text("filename", "not mine.mp3"),
        )
        .await;
    assert_eq!(status, 201);
    for query in ["filename=mine", "filename=mine&asset_types=audio"] {
        let (_, listed) = app.get(&format!("/assets?{query}")).await;
        assert_eq!(ids(&listed), vec![mine.clone()], "{query}");
        assert_eq!(listed["page_info"]["total_results"], 1, "{query}");
    }
    let (_, listed) = app.get(&format!("/assets?asset_ids={theirs}")).await;
    assert_eq!(ids(&listed), Vec::<String>::new());
    let (status, body) = app.get(&format!("/assets/{theirs}")).await;
    assert_error(status, &body, 404, "resource_not_exist");
    let (status, body) = app.delete(&format!("/assets/{theirs}")).await;
    assert_error(status, &body, 404, "resource_not_exist");

    // Still there for its owner.
    let response = app
        .client
        .get(app.url(&format!("/assets/{theirs}")))
        .header("x-api-key", &other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn delete_removes_the_row_and_every_file() {
    let app = TestApp::spawn().await;
    let keep = upload_named(&app, "frame.png", "keep.png").await;
    let gone = upload_named(&app, "clip.mp4", "gone.mp4").await;
    assert_eq!(app.asset_folders().len(), 2);

    let (status, body) = app.delete(&format!("/assets/{gone}?force=false")).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(body, Value::Null, "204 has no body");
    let (status, body) = app.get(&format!("/assets/{gone}")).await;
    assert_error(status, &body, 404, "resource_not_exist");
    let (status, body) = app.delete(&format!("/assets/{gone}")).await;
    assert_error(status, &body, 404, "resource_not_exist");
    let folders: HashSet<String> = app
        .asset_folders()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders, HashSet::from([keep.clone()]));

    let (status, body) = app.delete(&format!("/assets/{keep}?force=sometimes")).await;
    assert_error(status, &body, 400, "parameter_invalid");
    let (status, body) = app.get("/assets/not-an-id").await;
    assert_error(status, &body, 404, "resource_not_exist");
    let (status, _) = app.delete(&format!("/assets/{keep}?force=true")).await;
    assert_eq!(status, 204);
    assert!(app.asset_folders().is_empty());
}
