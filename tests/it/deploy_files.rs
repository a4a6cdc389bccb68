//! compose.yaml and docker/Dockerfile cannot be run on the test machines (no
//! Docker engine), so this reads them: every `ASSETD_*` setting they use must
//! be one that `assetd serve` reads, or a typo or a renamed flag would pass
//! unseen until someone deploys.

use std::collections::BTreeSet;

use crate::common::BIN;

/// The `ASSETD_*` names in `text`.
fn settings_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("ASSETD_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        found.insert(name);
    }
    found
}

#[test]
fn compose_and_the_dockerfile_use_only_settings_the_server_reads() {
    let help = std::process::Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let known: BTreeSet<String> = settings_in(&String::from_utf8_lossy(&help.stdout));
    assert!(known.contains("ASSETD_DATABASE_URL"), "{known:?}");
    let root = env!("CARGO_MANIFEST_DIR");
    // Variables of compose itself, which fill in the settings' values.
    let substitutions = [
        "ASSETD_POSTGRES_PASSWORD",
        "ASSETD_S3_KEY_ID",
        "ASSETD_S3_SECRET",
    ];
    for file in ["compose.yaml", "docker/Dockerfile"] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let used = settings_in(&text);
        assert!(!used.is_empty(), "{file} sets no ASSETD_* at all?");
        for name in used {
            assert!(
                known.contains(&name) || substitutions.contains(&name.as_str()),
                "{file} uses {name}, which `assetd serve` does not read"
            );
        }
    }
}
