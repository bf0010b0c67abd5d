//! Text in PNGs: a sans-serif TrueType font found on this machine at run time (none is shipped),
//! registered once with plotters' `ab_glyph` renderer. SVGs name the family and need no font file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The family name our text asks for (registered under this name; written into SVGs as is).
pub const FAMILY: &str = "sans-serif";

/// An environment variable naming a .ttf/.otf file to use instead of the search; set but empty, it
/// turns text in PNGs off (what a machine without fonts gets, and how the tests check that case).
pub const FONT_ENV: &str = "NEUROMAPPER_FONT";

/// Common places of a plain sans-serif font: Debian/Ubuntu, Fedora, Arch, macOS, Windows.
const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Folders searched (two levels deep) for any file named like a regular sans font when no
/// candidate exists.
const FONT_DIRS: &[&str] = &["/usr/share/fonts", "/usr/local/share/fonts"];

/// What text rendering in PNGs could use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FontStatus {
    /// This font file was loaded and registered.
    Loaded(PathBuf),
    /// No usable font was found; the string says where we looked.
    Missing(String),
}

static REGISTERED: OnceLock<FontStatus> = OnceLock::new();

/// Finds, loads and registers a font once per process; later calls return the first answer.
pub fn ensure_font() -> &'static FontStatus {
    REGISTERED.get_or_init(|| {
        let from_env = std::env::var_os(FONT_ENV).map(PathBuf::from);
        if from_env.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return FontStatus::Missing(format!("nowhere: {FONT_ENV} is set and empty"));
        }
        let mut tried = Vec::new();
        for path in from_env.iter().cloned().chain(candidates()) {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    // plotters keeps registered fonts for the life of the process and wants
                    // 'static bytes: leaked once, as the registry is filled once.
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    if plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, bytes).is_ok() {
                        return FontStatus::Loaded(path);
                    }
                    tried.push(format!("{} (not a usable font)", path.display()));
                }
                Err(_) if from_env.as_ref() == Some(&path) => {
                    tried.push(format!("{} (from {FONT_ENV}: unreadable)", path.display()));
                }
                Err(_) => {}
            }
        }
        tried.push(format!("the usual font folders ({})", FONT_DIRS.join(", ")));
        FontStatus::Missing(tried.join("; "))
    })
}

/// The fixed candidates that exist, then regular sans fonts found under [`FONT_DIRS`].
fn candidates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = CANDIDATES.iter().map(PathBuf::from).filter(|p| p.is_file()).collect();
    for dir in FONT_DIRS {
        scan(Path::new(dir), 2, &mut out);
    }
    out
}

fn scan(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && depth > 0 {
            scan(&p, depth - 1, out);
        } else if is_regular_sans(&p) {
            out.push(p);
        }
    }
}

fn is_regular_sans(p: &Path) -> bool {
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else { return false };
    let lower = name.to_ascii_lowercase();
    (lower.ends_with(".ttf") || lower.ends_with(".otf"))
        && lower.contains("sans")
        && !["bold", "italic", "oblique", "mono", "condensed", "light"].iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_sans_names_are_recognised() {
        assert!(is_regular_sans(Path::new("/x/DejaVuSans.ttf")));
        assert!(is_regular_sans(Path::new("/x/NotoSans-Regular.otf")));
        assert!(!is_regular_sans(Path::new("/x/DejaVuSans-Bold.ttf")));
        assert!(!is_regular_sans(Path::new("/x/DejaVuSansMono.ttf")));
        assert!(!is_regular_sans(Path::new("/x/readme.txt")));
    }
}
