//! The dashboard page, written by hand in HTML, CSS and JavaScript and embedded in the binary.
//!
//! Owns nothing but the embedded files: `assets/index.html` (one self-contained page: no build
//! step, relative URLs only, nothing loaded from outside the server; it polls the JSON API with
//! `fetch()` every second and writes data into the DOM as text, never as HTML) and the icon.

/// The page served at `/`.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");

/// The icon served at `/favicon.ico` (SVG; browsers accept it by its content type).
pub const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");

#[cfg(test)]
mod tests {
    use super::*;

    /// The page may only reach the server it came from.
    #[test]
    fn page_is_self_contained() {
        for needle in
            ["http://", "https://", "//cdn", "<script src", "@import", "url(", "EventSource", "WebSocket"]
        {
            assert!(!INDEX_HTML.contains(needle), "the page contains {needle:?}");
        }
        for section in ["id=\"overview\"", "id=\"store\"", "id=\"pubsub\"", "id=\"queue\"", "id=\"stream\""] {
            assert!(INDEX_HTML.contains(section), "the page lacks {section}");
        }
        assert!(INDEX_HTML.contains("fetch("));
        assert!(FAVICON_SVG.starts_with("<svg"));
    }
}
