//! openapi.yaml is the document the server serves (which the server makes
//! from its handlers), and describes exactly what is served: every documented
//! operation is routed, and every other method on a documented path is not.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::common::TestApp;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn committed() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

#[tokio::test]
async fn openapi_yaml_is_the_served_document() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "served as JSON"
    );
    let served: serde_json::Value = response.json().await.unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    let committed = serde_json::to_value(committed()).unwrap();
    assert!(
        served == committed,
        "openapi.yaml differs from GET /openapi.json: run `cargo run -- openapi > openapi.yaml`"
    );
}

fn documented() -> BTreeMap<String, Vec<String>> {
    let spec = committed();
    let servers = spec["servers"].as_sequence().expect("servers");
    assert!(!servers.is_empty());
    let mut out = BTreeMap::new();
    for (path, item) in spec["paths"].as_mapping().expect("paths") {
        let path = path.as_str().unwrap().to_string();
        let methods = METHODS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_string())
            .collect();
        out.insert(path, methods);
    }
    out
}

/// A concrete path for a template: every `{parameter}` becomes a plausible value.
fn fill_parameters(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{asset_id}" => "0193aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else_on_those_paths() {
    let app = TestApp::spawn().await;
    let paths = documented();
    assert!(paths.contains_key("/v1.3/assets") && paths.contains_key("/healthz"));
    for (path, methods) in &paths {
        let concrete = fill_parameters(path);
        for method in METHODS {
            let response = app
                .client
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{concrete}", app.base),
                )
                .header("x-api-key", &app.key)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let fallback = body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("There is no endpoint"));
            let routed = status != 405 && !fallback;
            assert_eq!(
                routed,
                methods.contains(&method.to_string()),
                "{method} {path}: answered {status} {body}; openapi.yaml says {methods:?}"
            );
        }
    }
}
