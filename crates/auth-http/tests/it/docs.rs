//! docs/api.md stays complete: every route the app serves is a row of its endpoint table (§3),
//! and every error code authd answers (each `AuthError` code, and those the HTTP layer makes
//! itself) is a row of its error table (§5). Both lists are read from the source, so a route or
//! code added without its row fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, read.
fn sources(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The text of `doc` from the heading starting with `from` up to the next `## ` heading.
fn section(doc: &str, from: &str) -> String {
    let start = doc.find(from).unwrap_or_else(|| panic!("docs/api.md has no heading {from:?}"));
    let rest = &doc[start + from.len()..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
}

/// `(method, path)` of each row of the section's first table (the first two backticked cells),
/// with any query string dropped.
fn endpoint_rows(section: &str) -> BTreeSet<(String, String)> {
    let mut rows = BTreeSet::new();
    let table = section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
    for line in table.filter(|l| l.starts_with("| `")) {
        let ticked: Vec<&str> = line.split('`').skip(1).step_by(2).take(2).collect();
        if let [method, path] = ticked[..] {
            rows.insert((method.to_owned(), path.split('?').next().unwrap_or(path).to_owned()));
        }
    }
    rows
}

/// `(method, path)` of every route in auth-http's source: each `resource("/path")` with the
/// `web::<method>()` routes chained to it.
pub(crate) fn served_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for text in sources(&workspace().join("crates/auth-http/src")) {
        for piece in text.split("resource(\"").skip(1) {
            let Some((path, chain)) = piece.split_once('"') else { continue };
            let chain = chain.split("resource(").next().unwrap_or_default();
            for method in ["get", "post", "put", "patch", "delete"] {
                if chain.contains(&format!("web::{method}()")) {
                    routes.insert((method.to_ascii_uppercase(), path.to_owned()));
                }
            }
        }
    }
    routes
}

/// Every error code authd answers: the arms of `AuthError::code` and the codes the HTTP layer
/// builds with `new(StatusCode::…, "code", …)`.
fn error_codes() -> BTreeSet<String> {
    let core = std::fs::read_to_string(workspace().join("crates/auth-core/src/error.rs")).unwrap();
    let body = core.split("pub fn code(&self)").nth(1).unwrap();
    let body = &body[..body.find("\n    }\n").unwrap()];
    let mut codes: BTreeSet<String> =
        body.split("=> \"").skip(1).filter_map(|rest| rest.split_once('"')).map(|(code, _)| code.to_owned()).collect();
    for text in sources(&workspace().join("crates/auth-http/src")) {
        // One line per call, whatever rustfmt made of it.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ").replace("( ", "(");
        for piece in text.split("new(StatusCode::").skip(1) {
            let code = piece.split_once(',').and_then(|(_, rest)| rest.trim_start().strip_prefix('"'));
            if let Some((code, _)) = code.and_then(|c| c.split_once('"')) {
                codes.insert(code.to_owned());
            }
        }
    }
    codes
}

#[test]
fn every_route_is_in_the_endpoint_table() {
    let doc = std::fs::read_to_string(workspace().join("docs/api.md")).unwrap();
    let table = endpoint_rows(&section(&doc, "\n## 3. Endpoints"));
    let served = served_routes();
    assert!(served.len() > 20, "the route scan found too little: {served:?}");
    let missing: Vec<_> = served.difference(&table).collect();
    assert!(missing.is_empty(), "routes missing from docs/api.md's endpoint table: {missing:?}");
    let stale: Vec<_> = table.difference(&served).collect();
    assert!(stale.is_empty(), "docs/api.md lists routes the app does not serve: {stale:?}");
}

#[test]
fn every_error_code_is_in_the_error_table() {
    let doc = std::fs::read_to_string(workspace().join("docs/api.md")).unwrap();
    let table: BTreeSet<String> = section(&doc, "\n## 5. Error codes")
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('`').nth(1).map(str::to_owned))
        .collect();
    let codes = error_codes();
    assert!(codes.contains("invalid_credentials") && codes.contains("not_found"), "the scan found {codes:?}");
    let missing: Vec<_> = codes.difference(&table).collect();
    assert!(missing.is_empty(), "error codes missing from docs/api.md's error table: {missing:?}");
}
