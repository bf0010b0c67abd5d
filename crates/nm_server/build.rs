//! Rebuild when the embedded viewer files change (include_dir does not tell Cargo about them).
fn main() {
    println!("cargo:rerun-if-changed=ui");
}
