//! The viewer's files (crates/nm_server/ui), embedded into the binary at compile time.

use include_dir::{include_dir, Dir};

static UI: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/ui");

/// The embedded file at `path` (relative, `/`-separated) and its content type. Only plain names
/// reach the lookup: anything with `..`, a backslash, a percent-escape or an empty segment is refused,
/// and the lookup itself is in memory, so no request can read the file system.
pub fn get(path: &str) -> Option<(&'static [u8], &'static str)> {
    let path = if path.is_empty() { "index.html" } else { path };
    let plain = path.split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    if !plain {
        return None;
    }
    let file = UI.get_file(path)?;
    Some((file.contents(), content_type(path)))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Every embedded file: (path relative to `ui/`, `/`-separated, bytes), sorted by path.
pub fn files() -> Vec<(&'static str, &'static [u8])> {
    fn walk(dir: &'static Dir<'static>, out: &mut Vec<(&'static str, &'static [u8])>) {
        for f in dir.files() {
            if let Some(p) = f.path().to_str() {
                out.push((p, f.contents()));
            }
        }
        for d in dir.dirs() {
            walk(d, out);
        }
    }
    let mut out = Vec::new();
    walk(&UI, &mut out);
    out.sort_by_key(|(p, _)| *p);
    out
}
