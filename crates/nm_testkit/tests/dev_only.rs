//! The kit stays a dev-dependency: no crate of the workspace lists it among its normal (or build)
//! dependencies, so it never reaches a library or the binary.

#[test]
fn no_crate_depends_on_the_kit_outside_its_dev_dependencies() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut users = Vec::new();
    for entry in std::fs::read_dir(crates).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_string();
            } else if line.starts_with("nm_testkit") {
                assert!(
                    section.ends_with("dev-dependencies]"),
                    "{} lists nm_testkit under {section}; it may only be a dev-dependency",
                    manifest.display()
                );
                users.push(manifest.clone());
            }
        }
    }
    assert!(users.len() >= 5, "the suites should use the kit: {users:?}");
}
