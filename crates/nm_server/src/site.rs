//! A static copy of the viewer (`neuromapper site`): the viewer's files, the run's summary, samples
//! and thumbnail atlases, and every view of a precomputed parameter grid, each the very bytes the API
//! would send, laid out for any static file server ([`Site::write_folder`]) or inlined into one HTML
//! file ([`Site::single_html`]).
//!
//! # Layout of a site folder
//! | file                              | what it holds (the route whose answer it is)                    |
//! |-----------------------------------|-----------------------------------------------------------------|
//! | `index.html`                      | the viewer's page with `<meta name="neuromapper-site" content="site.json">`, which makes it read the files below (`ui/js/static.js`) |
//! | `style.css`, `js/…`               | the viewer's files, as `GET /*` serves them                     |
//! | `site.json`                       | the site's index (below); it also marks the folder as ours      |
//! | `data/run.json`                   | `GET /api/run`, with `views` listing the grid and no tasks      |
//! | `data/samples.bin`                | `GET /api/samples`                                             |
//! | `data/thumbs/{page}.png`          | `GET /api/thumbs/{page}.png`                                   |
//! | `data/views/{key}/{i}.bin`        | `GET /api/layers/{layer}/embedding?view={key}`, `i` the layer's position in the site; packed (`NMEP`, pack.rs) unless the site was built without a precision |
//! | `data/views/{key}/quality.json`   | `GET /api/quality?view={key}`, when it was computed            |
//!
//! `site.json` is `{"format": "neuromapper-site/1", "grid": {"axes": [{"name", "values"}], "views":
//! [{"key", "params"}]}, "files": {"run", "samples", "thumbs": [file], "views": {KEY: {"layers":
//! {LAYER: file}, "quality": file | null}}}}`. File names come from view keys (hex) and indices, never
//! from names in the run, and every file name in `files` is relative to the page.
//!
//! # One file
//! The same index with every file a `data:` URL (base64), embedded in the page as a
//! `<script type="application/json" id="neuromapper-site">` (marker `content="inline"`); the style
//! sheet inlined; each JS module a `data:` URL in an import map, its relative imports rewritten to the
//! map's names (`nm/js/…`), so the page opened from `file://` fetches nothing but `data:` URLs.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use nm_pipeline::{EmbedParams, LayerEmbedding, ParamOverrides};
use serde_json::{json, Value};

use crate::{api, assets, encode, state};

pub use crate::pack::{BITS as PRECISION_BITS, DEFAULT_BITS as DEFAULT_PRECISION_BITS};

/// The `format` of `site.json`.
pub const SITE_FORMAT: &str = "neuromapper-site/1";
/// The index's file name in a site folder (and the folder's mark that we wrote it).
pub const SITE_INDEX: &str = "site.json";
/// The `<meta>` the page looks for (`ui/js/static.js`).
const MARKER_META: &str = "neuromapper-site";
/// Import-map names of the viewer's modules in one file: `nm/js/main.js`, …
const MODULE_PREFIX: &str = "nm/";
/// How much of an existing file is read to recognise a page we wrote.
const MARKER_SCAN_BYTES: u64 = 4096;

/// One view of the grid: its parameters, its embedding of every layer of the site (in the site's
/// layer order) and, when computed, its quality report (`nm_pipeline::QualityReport::to_json`).
pub struct SiteView {
    pub params: EmbedParams,
    pub embeddings: Vec<LayerEmbedding>,
    pub quality: Option<Value>,
}

/// One parameter the grid varies (`n_neighbors`, `min_dist` or `metric`) and its values, as the
/// viewer's menu offers them.
pub struct GridAxis {
    pub name: String,
    pub values: Vec<Value>,
}

/// A file of the site's data: its path in the folder, its content type (for `data:` URLs) and bytes.
struct DataFile {
    path: String,
    mime: &'static str,
    bytes: Vec<u8>,
}

/// A site built in memory, ready to be written as a folder or as one HTML file.
pub struct Site {
    data: Vec<DataFile>,
    /// `site.json` with the data files' paths.
    index: Value,
}

/// Builds the site of `run` showing `layers` (run layer names, in the order the plots take) with
/// `views` (each with one embedding per layer, in that order); `views[default_view]` is shown first
/// and `axes` say what the grid varies. The summary, samples, thumbnails and positions are encoded by
/// the same code that answers the API; with `precision` (bits per axis, [`PRECISION_BITS`]) the
/// positions are packed (pack.rs) instead, far smaller and within half a grid step of the embedding.
pub fn build(
    run: nm_run::Run,
    layers: &[String],
    views: &[SiteView],
    default_view: usize,
    axes: Vec<GridAxis>,
    precision: Option<u32>,
) -> anyhow::Result<Site> {
    let default = views.get(default_view).context("the site needs at least one view")?;
    let p = &default.params;
    let overrides = ParamOverrides {
        n_neighbors: Some(p.n_neighbors),
        min_dist: Some(p.min_dist),
        metric: Some(p.metric.clone()),
        pca_dims: Some(p.pca_dims),
        sampling: Some(p.sampling.clone()),
        seed: Some(p.seed),
        align_layers: Some(p.align_layers),
    };
    let run_path = run.path().to_path_buf();
    let (events, _) = tokio::sync::broadcast::channel(1);
    let st = state::AppState::new(run_path.clone(), Some(run), false, overrides, events)
        .with_context(|| format!("the default view's parameters do not fit the run {}", run_path.display()))?;
    anyhow::ensure!(
        st.default_view_key() == p.cache_key(),
        "the default view's parameters changed when checked against the run ({})",
        p.describe()
    );

    let mut data = Vec::new();
    let mut add = |path: String, mime: &'static str, bytes: Vec<u8>| {
        data.push(DataFile { path: path.clone(), mime, bytes });
        Value::String(path)
    };

    // The summary, as GET /api/run answers it, listing the grid's views over the site's layers.
    let mut summary = api::summary_json(&st);
    let run_layers: Vec<Value> = summary["layers"].as_array().cloned().unwrap_or_default();
    let mut shown_layers = Vec::with_capacity(layers.len());
    for l in layers {
        let found = run_layers.iter().find(|v| v["name"] == Value::String(l.clone()));
        shown_layers.push(found.cloned().with_context(|| format!("the run has no layer `{l}`"))?);
    }
    summary["layers"] = Value::Array(shown_layers);
    summary["tasks"] = json!([]);
    summary["views"] =
        views.iter().map(|v| json!({"key": v.params.cache_key(), "layers": layers, "params": v.params})).collect();
    let run_file = add("data/run.json".into(), "application/json", serde_json::to_vec(&summary)?);

    let derived = st.derived().context("cannot read the run's labels or predictions")?;
    let samples_file = add("data/samples.bin".into(), "application/octet-stream", derived.samples.to_vec());

    let mut thumbs = Vec::new();
    if let Some(inputs) = st.inputs() {
        for page in 0..encode::thumb_pages(&inputs) {
            let png = encode::thumb_page_png(&inputs, page).with_context(|| format!("thumbnail page {page}"))?;
            thumbs.push(add(format!("data/thumbs/{page}.png"), "image/png", png));
        }
    }

    let mut view_files = serde_json::Map::new();
    let mut grid_views = Vec::with_capacity(views.len());
    for v in views {
        let key = v.params.cache_key();
        anyhow::ensure!(
            v.embeddings.len() == layers.len(),
            "view {}: {} embeddings for {} layers",
            v.params.describe(),
            v.embeddings.len(),
            layers.len()
        );
        anyhow::ensure!(!view_files.contains_key(&key), "the view {} is in the grid twice", v.params.describe());
        let mut per_layer = serde_json::Map::new();
        for (i, (layer, emb)) in layers.iter().zip(&v.embeddings).enumerate() {
            anyhow::ensure!(
                &emb.layer == layer,
                "view {}: embedding of `{}` where `{layer}` was expected",
                key,
                emb.layer
            );
            let bytes = match precision {
                Some(bits) => st.encode_view_packed(&key, emb, bits)?,
                None => st.encode_view(&key, emb)?,
            };
            per_layer.insert(
                layer.clone(),
                add(format!("data/views/{key}/{i}.bin"), "application/octet-stream", bytes.to_vec()),
            );
        }
        let quality = match &v.quality {
            Some(q) => add(format!("data/views/{key}/quality.json"), "application/json", serde_json::to_vec(q)?),
            None => Value::Null,
        };
        view_files.insert(key.clone(), json!({"layers": per_layer, "quality": quality}));
        grid_views.push(json!({"key": key, "params": v.params}));
    }

    let axes: Vec<Value> = axes.into_iter().map(|a| json!({"name": a.name, "values": a.values})).collect();
    let index = json!({
        "format": SITE_FORMAT,
        "grid": {"axes": axes, "views": grid_views},
        "files": {"run": run_file, "samples": samples_file, "thumbs": thumbs, "views": view_files},
    });
    Ok(Site { data, index })
}

impl Site {
    /// Bytes of the data files (summary, samples, thumbnails, views, quality).
    pub fn data_bytes(&self) -> u64 {
        self.data.iter().map(|f| f.bytes.len() as u64).sum()
    }

    /// Every file of the site folder: (path relative to the folder, bytes), the viewer's first.
    pub fn folder_files(&self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let mut files = Vec::new();
        for (path, bytes) in assets::files() {
            let bytes = if path == "index.html" {
                page_with_marker(std::str::from_utf8(bytes)?, SITE_INDEX)?.into_bytes()
            } else {
                bytes.to_vec()
            };
            files.push((path.to_string(), bytes));
        }
        files.push((SITE_INDEX.to_string(), serde_json::to_vec_pretty(&self.index)?));
        files.extend(self.data.iter().map(|f| (f.path.clone(), f.bytes.clone())));
        Ok(files)
    }

    /// Writes the site into the folder `out` (created, with its parents, when missing), atomically:
    /// everything goes into a hidden sibling folder first, which then takes `out`'s place (a site
    /// written there before is moved aside and removed). Check `out` with [`check_out_folder`] first.
    /// Returns the number of files and their bytes.
    pub fn write_folder(&self, out: &Path) -> anyhow::Result<(usize, u64)> {
        let files = self.folder_files()?;
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let tmp = nm_run::temp_sibling(out);
        let written = (|| -> anyhow::Result<u64> {
            let mut total = 0u64;
            for (path, bytes) in &files {
                let dest = tmp.join(path);
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                }
                std::fs::write(&dest, bytes).with_context(|| format!("cannot write {}", dest.display()))?;
                total += bytes.len() as u64;
            }
            replace_with(&tmp, out)?;
            Ok(total)
        })();
        match written {
            Ok(total) => Ok((files.len(), total)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    /// The whole site as one HTML page (see the module's header).
    pub fn single_html(&self) -> anyhow::Result<Vec<u8>> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let urls: BTreeMap<&str, String> = self
            .data
            .iter()
            .map(|f| (f.path.as_str(), format!("data:{};base64,{}", f.mime, b64.encode(&f.bytes))))
            .collect();
        let mut index = self.index.clone();
        inline_files(&mut index["files"], &urls)?;

        let mut imports = serde_json::Map::new();
        let mut page = None;
        let mut css = None;
        for (path, bytes) in assets::files() {
            let text = || std::str::from_utf8(bytes).with_context(|| format!("the viewer's {path} is not UTF-8"));
            match path.rsplit('.').next() {
                Some("js") => {
                    let source = rewrite_imports(path, text()?);
                    let url = format!("data:text/javascript;base64,{}", b64.encode(source.as_bytes()));
                    imports.insert(format!("{MODULE_PREFIX}{path}"), Value::String(url));
                }
                Some("css") if path == "style.css" => css = Some(text()?),
                Some("html") if path == "index.html" => page = Some(text()?),
                _ => {}
            }
        }
        let page = page.context("the viewer has no index.html")?;
        let css = css.context("the viewer has no style.css")?;
        anyhow::ensure!(!css.contains("</"), "the viewer's style.css contains `</`, which cannot be inlined");
        let page = page_with_marker(page, "inline")?;
        let page =
            replace_once(&page, r#"<link rel="stylesheet" href="style.css">"#, &format!("<style>\n{css}</style>"))?;
        let scripts = format!(
            "<script type=\"importmap\">{}</script>\n  <script type=\"application/json\" id=\"{MARKER_META}\">{}</script>\n  \
             <script type=\"module\">import '{MODULE_PREFIX}js/main.js';</script>",
            script_json(&json!({ "imports": imports })),
            script_json(&index)
        );
        let page = replace_once(&page, r#"<script type="module" src="js/main.js"></script>"#, &scripts)?;
        Ok(page.into_bytes())
    }
}

/// `page` with the site marker `<meta name="neuromapper-site" content="…">` after its charset.
fn page_with_marker(page: &str, content: &str) -> anyhow::Result<String> {
    const CHARSET: &str = r#"<meta charset="utf-8">"#;
    replace_once(page, CHARSET, &format!("{CHARSET}\n  <meta name=\"{MARKER_META}\" content=\"{content}\">"))
}

fn replace_once(text: &str, from: &str, to: &str) -> anyhow::Result<String> {
    anyhow::ensure!(text.matches(from).count() == 1, "the viewer's index.html no longer has exactly one `{from}`");
    Ok(text.replacen(from, to, 1))
}

/// JSON to sit inside a `<script>` element: every `<` escaped (`\u003c`, only ever inside strings in
/// JSON), so no `</script>` or `<!--` can end or change the element.
fn script_json(v: &Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

/// Replaces every file path under `files` with its `data:` URL.
fn inline_files(v: &mut Value, urls: &BTreeMap<&str, String>) -> anyhow::Result<()> {
    match v {
        Value::String(path) => {
            let url =
                urls.get(path.as_str()).with_context(|| format!("the site's index names a missing file {path}"))?;
            *v = Value::String(url.clone());
        }
        Value::Array(items) => items.iter_mut().try_for_each(|x| inline_files(x, urls))?,
        Value::Object(map) => map.values_mut().try_for_each(|x| inline_files(x, urls))?,
        _ => {}
    }
    Ok(())
}

/// The module at `path` (e.g. `js/widgets/params.js`) with each quoted relative module specifier
/// (`'./x.js'`, `"../y.js"`) replaced by its import-map name (`'nm/js/widgets/x.js'`, `'nm/js/y.js'`):
/// a module loaded from a `data:` URL has no base to resolve relative names against.
fn rewrite_imports(path: &str, source: &str) -> String {
    let dir: Vec<&str> = path.split('/').collect::<Vec<_>>().split_last().map(|(_, d)| d.to_vec()).unwrap_or_default();
    let mut out = String::with_capacity(source.len() + 256);
    let mut rest = source;
    while let Some(i) = rest.find(['\'', '"']) {
        let quote = rest.as_bytes()[i] as char;
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let end = rest.find([quote, '\n']).unwrap_or(rest.len());
        let lit = &rest[..end];
        if (lit.starts_with("./") || lit.starts_with("../")) && lit.ends_with(".js") && rest[end..].starts_with(quote) {
            let mut parts = dir.clone();
            for seg in lit.split('/') {
                match seg {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    s => parts.push(s),
                }
            }
            out.push_str(MODULE_PREFIX);
            out.push_str(&parts.join("/"));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// Puts the folder `tmp` in `out`'s place: `out` (when there) is moved aside, `tmp` renamed to
/// `out`, the old one removed.
fn replace_with(tmp: &Path, out: &Path) -> anyhow::Result<()> {
    let old = match std::fs::symlink_metadata(out) {
        Ok(_) => {
            let aside = nm_run::temp_sibling(out);
            std::fs::rename(out, &aside).with_context(|| format!("cannot move the old {} aside", out.display()))?;
            Some(aside)
        }
        Err(_) => None,
    };
    if let Err(e) = std::fs::rename(tmp, out) {
        if let Some(aside) = &old {
            let _ = std::fs::rename(aside, out);
        }
        return Err(e).with_context(|| format!("cannot move the new site into {}", out.display()));
    }
    if let Some(aside) = old {
        std::fs::remove_dir_all(&aside).with_context(|| format!("cannot remove the old site {}", aside.display()))?;
    }
    Ok(())
}

/// Checks that the folder `out` may receive a site: missing, empty, or a site written by us
/// (its `site.json` says [`SITE_FORMAT`]). Not a link, not a file.
pub fn check_out_folder(out: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("--out {}: cannot read it", out.display())),
    };
    anyhow::ensure!(!meta.file_type().is_symlink(), "--out {}: is a link; give the folder itself", out.display());
    anyhow::ensure!(
        meta.is_dir(),
        "--out {}: is a file, not a folder (to write one HTML file, add --single-file)",
        out.display()
    );
    let mut entries = std::fs::read_dir(out).with_context(|| format!("--out {}: cannot list it", out.display()))?;
    if entries.next().is_none() || is_our_index(&out.join(SITE_INDEX)) {
        return Ok(());
    }
    anyhow::bail!(
        "--out {}: is a folder with other files in it, not a site neuromapper wrote (it has no {SITE_INDEX} of \
         format {SITE_FORMAT}); choose a new or empty folder: the site replaces everything in it",
        out.display()
    )
}

fn is_our_index(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    if !meta.is_file() || meta.len() > 64 * 1024 * 1024 {
        return false;
    }
    let Ok(text) = std::fs::read(path) else { return false };
    serde_json::from_slice::<Value>(&text).is_ok_and(|v| v["format"] == SITE_FORMAT)
}

/// Checks that the file `out` may receive a one-file site: missing, or a page written by us (its
/// head has the site marker). Not a link, not a folder.
pub fn check_out_file(out: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("--out {}: cannot read it", out.display())),
    };
    anyhow::ensure!(!meta.file_type().is_symlink(), "--out {}: is a link; give the file itself", out.display());
    anyhow::ensure!(
        meta.is_file(),
        "--out {}: is a folder; with --single-file, --out names an HTML file",
        out.display()
    );
    let mut head = Vec::new();
    std::fs::File::open(out)
        .and_then(|f| f.take(MARKER_SCAN_BYTES).read_to_end(&mut head))
        .with_context(|| format!("--out {}: cannot read it", out.display()))?;
    let ours = String::from_utf8_lossy(&head).contains(&format!("<meta name=\"{MARKER_META}\" content=\"inline\">"));
    anyhow::ensure!(
        ours,
        "--out {}: exists and is not a page neuromapper wrote; choose another file name or remove it",
        out.display()
    );
    Ok(())
}

/// Writes a one-file site to `out` atomically (temp file + rename), creating its folder.
pub fn write_file(out: &Path, html: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    nm_run::write_atomic(out, html).with_context(|| format!("cannot write {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_imports_become_import_map_names() {
        let src = "import { a } from './app.js';\nimport { b } from \"../source.js\";\n// not 'a.js' nor './x.css'\nconst s = './y.js';";
        let out = rewrite_imports("js/widgets/params.js", src);
        assert!(out.contains("from 'nm/js/widgets/app.js'"), "{out}");
        assert!(out.contains("from \"nm/js/source.js\""), "{out}");
        assert!(out.contains("'a.js'") && out.contains("'./x.css'"), "{out}");
        assert!(out.contains("'nm/js/widgets/y.js'"), "{out}");
        assert_eq!(rewrite_imports("js/main.js", "import './a.js'"), "import 'nm/js/a.js'");
        // An unterminated quote is left as it is.
        assert_eq!(rewrite_imports("js/main.js", "x = './a.js"), "x = './a.js");
    }

    #[test]
    fn every_viewer_module_import_resolves_to_a_module_in_the_map() {
        let names: Vec<String> = assets::files()
            .iter()
            .filter(|(p, _)| p.ends_with(".js"))
            .map(|(p, _)| format!("{MODULE_PREFIX}{p}"))
            .collect();
        assert!(names.contains(&"nm/js/main.js".to_string()));
        for (path, bytes) in assets::files().iter().filter(|(p, _)| p.ends_with(".js")) {
            let out = rewrite_imports(path, std::str::from_utf8(bytes).unwrap());
            for line in out.lines().filter(|l| l.trim_start().starts_with("import ") && l.contains(" from ")) {
                let spec = line.rsplit(" from ").next().unwrap().trim().trim_end_matches(';').trim_matches(['\'', '"']);
                assert!(names.iter().any(|n| n == spec), "{path}: `{spec}` is not a module of the viewer");
            }
        }
    }

    #[test]
    fn script_json_cannot_close_its_element() {
        let s = script_json(&json!({"a": "</script><!--"}));
        assert!(!s.contains('<'), "{s}");
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap()["a"], "</script><!--");
    }

    #[test]
    fn the_page_takes_its_marker() {
        let (_, html) = assets::files().into_iter().find(|(p, _)| *p == "index.html").unwrap();
        let page = page_with_marker(std::str::from_utf8(html).unwrap(), "site.json").unwrap();
        assert!(page.contains(r#"<meta name="neuromapper-site" content="site.json">"#));
    }
}
