//! The web console's static files, embedded in the binary at build time from
//! `console/` at the repository root (plain HTML, CSS and ES modules: no
//! build step, so what is in the repository is what is served).
//!
//! The console holds no secret: the admin token is typed into its login form
//! and every API call is authorized like any other client's, so its files
//! are served without authentication, under [`HEADERS`].

/// Headers for every console response. The CSP allows only the console's
/// own files (no inline script or style, no other origin), so text that
/// attackers put in events cannot run even if it reached the page as markup.
pub(crate) const HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    // A new binary serves new files: browsers revalidate instead of running
    // a stale module beside a fresh one.
    ("cache-control", "no-cache"),
];

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! embed {
    ($($name:literal => $ctype:expr),* $(,)?) => {
        /// Every served file: name (relative to `/console/`), content type, bytes.
        const FILES: &[(&str, &str, &[u8])] = &[
            $(($name, $ctype, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../console/", $name)))),*
        ];
    };
}

embed! {
    "index.html" => HTML,
    "style.css" => CSS,
    "api.js" => JS,
    "app.js" => JS,
    "bans.js" => JS,
    "charts.js" => JS,
    "detail.js" => JS,
    "dialogs.js" => JS,
    "dom.js" => JS,
    "events.js" => JS,
    "inventory.js" => JS,
    "keys.js" => JS,
    "login.js" => JS,
    "model.js" => JS,
    "overview.js" => JS,
    "sse.js" => JS,
}

/// The file at `path` below `/console/` (`""` or `"/"` is `index.html`; a
/// leading `/` is ignored): its content type and bytes, or `None`.
pub(crate) fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let name = path.strip_prefix('/').unwrap_or(path);
    let name = if name.is_empty() { "index.html" } else { name };
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ctype, bytes)| (*ctype, *bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Files in `console/` that are not served: its maintainer notes.
    const NOT_SERVED: &[&str] = &["README.md"];

    #[test]
    fn every_file_in_the_console_directory_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../console");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| !NOT_SERVED.contains(&n.as_str()))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "console/ and the embedded list differ");
        for name in &on_disk {
            let (_, bytes) = asset(name).unwrap();
            assert_eq!(bytes, std::fs::read(format!("{dir}/{name}")).unwrap());
        }
        // No subdirectories: they would not be embedded.
        assert!(
            std::fs::read_dir(dir)
                .unwrap()
                .all(|e| e.unwrap().file_type().unwrap().is_file())
        );
    }

    #[test]
    fn paths_map_to_files_with_their_content_types() {
        assert_eq!(asset("").unwrap().0, HTML);
        assert_eq!(asset("/").unwrap().0, HTML);
        assert_eq!(asset("index.html").unwrap(), asset("").unwrap());
        assert_eq!(asset("/app.js").unwrap().0, JS);
        assert_eq!(asset("style.css").unwrap().0, CSS);
        assert!(asset("README.md").is_none());
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("app.js/").is_none());
        assert!(asset("nope.js").is_none());
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        // The CSP forbids them: they would silently not run.
        let (_, html) = asset("").unwrap();
        let html = std::str::from_utf8(html).unwrap();
        assert!(!html.contains("<style"), "inline <style> in index.html");
        assert!(
            !html.contains("style="),
            "inline style attribute in index.html"
        );
        for tag in html.split("<script").skip(1) {
            assert!(
                tag.trim_start().starts_with("type=\"module\" src="),
                "inline script: {tag}"
            );
        }
        for (name, _, bytes) in FILES {
            let text = std::str::from_utf8(bytes).unwrap();
            assert!(
                !text.contains("innerHTML"),
                "{name} writes markup with innerHTML"
            );
            assert!(!text.contains("insertAdjacentHTML"), "{name} writes markup");
            assert!(!text.contains("eval("), "{name} calls eval");
        }
    }

    #[test]
    fn headers_carry_the_policy() {
        let csp = HEADERS
            .iter()
            .find(|(n, _)| *n == "content-security-policy")
            .unwrap()
            .1;
        assert!(csp.contains("script-src 'self'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe"));
        assert!(HEADERS.contains(&("x-content-type-options", "nosniff")));
        assert!(HEADERS.contains(&("referrer-policy", "no-referrer")));
    }
}
