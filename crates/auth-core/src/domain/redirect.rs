use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Where emailed links may send the browser: the site URL, or an address matching the allow
/// list. Patterns are globs: `*` matches within one host label or path segment (never across
/// `.`, `/`, `?`, `#`, `@` or `\`), `**` matches anything, `?` one such character. A target
/// with credentials, a backslash, whitespace or control characters is never allowed, since
/// browsers and servers may read its host differently. Built only through [`RedirectPolicy::new`],
/// which refuses a site URL or pattern that could not work or would allow more than it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectPolicy {
    site_url: String,
    allow_list: Vec<String>,
}

/// Why a site URL or allow-list pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectPolicyError {
    /// The site URL is not an absolute http(s) URL without credentials, whitespace or backslash.
    #[error("the site URL must be an absolute http:// or https:// URL without credentials")]
    SiteUrl,
    /// An allow-list pattern cannot be used as given.
    #[error("redirect pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern, as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl RedirectPolicy {
    /// A policy sending browsers to `site_url` by default and allowing the targets the
    /// `allow_list` patterns match. Each pattern must start with `http://` or `https://`, name a
    /// host, hold no credentials, whitespace or backslash, and have no `**` before its path: a
    /// `**` in the host (`https://*.example.com**`) would also match `x.example.com.evil.net`.
    pub fn new(site_url: &str, allow_list: Vec<String>) -> Result<Self, RedirectPolicyError> {
        let site_url = site_url.trim();
        if !plain_url(site_url) {
            return Err(RedirectPolicyError::SiteUrl);
        }
        for pattern in &allow_list {
            if let Err(reason) = check_pattern(pattern) {
                return Err(RedirectPolicyError::Pattern { pattern: pattern.clone(), reason });
            }
        }
        Ok(Self { site_url: site_url.to_owned(), allow_list })
    }

    /// `http://localhost:3000` and no pattern: the default of `EmailSettings`, for development.
    pub(crate) fn local_default() -> Self {
        Self { site_url: "http://localhost:3000".into(), allow_list: Vec::new() }
    }

    /// The application's URL, the default target.
    pub fn site_url(&self) -> &str {
        &self.site_url
    }

    /// The allowed target patterns besides the site URL.
    pub fn allow_list(&self) -> &[String] {
        &self.allow_list
    }

    /// `requested` when it is allowed, the site URL otherwise.
    pub fn resolve(&self, requested: Option<&str>) -> String {
        match requested.map(str::trim).filter(|r| !r.is_empty()) {
            Some(url) if self.allows(url) => url.to_owned(),
            _ => self.site_url.clone(),
        }
    }

    fn allows(&self, url: &str) -> bool {
        if !plain_url(url) {
            return false;
        }
        let site = self.site_url.trim_end_matches('/');
        let under_site = !site.is_empty()
            && (url == site || url.strip_prefix(site).is_some_and(|rest| rest.starts_with(['/', '?', '#'])));
        under_site || self.allow_list.iter().any(|pattern| glob_matches(pattern.as_bytes(), url.as_bytes()))
    }
}

/// An absolute http(s) URL whose authority holds no credentials, with no backslash, whitespace
/// or control character anywhere.
fn plain_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    matches!(scheme, "http" | "https")
        && !authority.is_empty()
        && !authority.contains('@')
        && !url.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control())
}

/// Why `pattern` cannot be an allow-list entry, if it cannot.
fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    let Some((scheme, rest)) = pattern.split_once("://") else { return Err("must start with http:// or https://") };
    if !matches!(scheme, "http" | "https") {
        return Err("must start with http:// or https://");
    }
    if pattern.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control()) {
        return Err("must not hold a backslash, whitespace or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err("must name a host");
    }
    if authority.contains('@') {
        return Err("must not hold credentials (@)");
    }
    if authority.contains("**") {
        return Err("`**` before the path matches other hosts too; use `*` for one host label");
    }
    Ok(())
}

/// Characters a single `*` or `?` never matches: they end a host label or a path segment, or
/// start a query, fragment or credentials.
fn separator(c: u8) -> bool {
    matches!(c, b'.' | b'/' | b'?' | b'#' | b'@' | b'\\')
}

fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob_matches(rest, &text[i..])),
        [b'*', rest @ ..] => {
            let segment = text.iter().position(|&c| separator(c)).unwrap_or(text.len());
            (0..=segment).any(|i| glob_matches(rest, &text[i..]))
        }
        [b'?', rest @ ..] => text.first().is_some_and(|&c| !separator(c)) && glob_matches(rest, &text[1..]),
        [p, rest @ ..] => text.first() == Some(p) && glob_matches(rest, &text[1..]),
    }
}

/// Characters left as they are in a query value: RFC 3986's unreserved set.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `value` encoded for a URL query string.
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str]) -> RedirectPolicy {
        RedirectPolicy::new("https://app.example.com", allow.iter().map(|s| (*s).to_owned()).collect()).unwrap()
    }

    #[test]
    fn a_policy_that_could_not_work_or_allows_too_much_is_refused() {
        for site in ["", "app.example.com", "javascript://x", "https://user@app.example.com", "https:// x"] {
            assert_eq!(RedirectPolicy::new(site, Vec::new()), Err(RedirectPolicyError::SiteUrl), "{site}");
        }
        for pattern in [
            "",
            "**",
            "localhost:3000/*",
            "ftp://files.example.com/**",
            "https://*.example.com**",
            "https://**.example.com/x",
            "https://user@example.com/**",
            "https:///path",
            "https://a.example.com/\\x",
        ] {
            let refused = RedirectPolicy::new("https://app.example.com", vec![pattern.into()]);
            assert!(matches!(refused, Err(RedirectPolicyError::Pattern { .. })), "{pattern}: {refused:?}");
        }
        let fine = RedirectPolicy::new(" https://app.example.com ", vec!["http://localhost:*/**".into()]).unwrap();
        assert_eq!((fine.site_url(), fine.allow_list().len()), ("https://app.example.com", 1));
    }

    #[test]
    fn site_url_and_paths_under_it_are_allowed() {
        let p = policy(&[]);
        assert_eq!(p.resolve(Some("https://app.example.com/welcome?x=1")), "https://app.example.com/welcome?x=1");
        assert_eq!(p.resolve(Some("https://app.example.com")), "https://app.example.com");
        assert_eq!(p.resolve(Some("https://app.example.com.evil.net/")), "https://app.example.com");
        assert_eq!(p.resolve(Some("https://evil.net/?https://app.example.com")), "https://app.example.com");
        assert_eq!(p.resolve(None), "https://app.example.com");
    }

    #[test]
    fn globs_match_segments_or_everything() {
        let p = policy(&["http://localhost:3000/*", "https://*.preview.example.com/**"]);
        assert_eq!(p.resolve(Some("http://localhost:3000/cb")), "http://localhost:3000/cb");
        assert_eq!(p.resolve(Some("http://localhost:3000/a/b")), "https://app.example.com", "* stays in a segment");
        assert_eq!(p.resolve(Some("https://pr-7.preview.example.com/a/b")), "https://pr-7.preview.example.com/a/b");
        assert_eq!(p.resolve(Some("https://evil.com/x.preview.example.com/")), "https://app.example.com");
    }

    #[test]
    fn hosts_cannot_be_smuggled_past_a_wildcard() {
        let p = policy(&["https://*.preview.example.com/**", "http://localhost:3000/*"]);
        for evil in [
            "https://attacker.test?.preview.example.com/x",
            "https://attacker?.preview.example.com/x",
            "https://attacker#.preview.example.com/x",
            "https://attacker\\.preview.example.com/x",
            "https://user@attacker.test/.preview.example.com/x",
            "https://pr-1.preview.example.com@attacker.test/",
            "http://localhost:3000/ok\nLocation: https://attacker.test",
            "javascript://localhost:3000/%0aalert(1)",
        ] {
            assert_eq!(p.resolve(Some(evil)), "https://app.example.com", "{evil}");
        }
        assert_eq!(p.resolve(Some("https://pr-1.preview.example.com/a?b=c")), "https://pr-1.preview.example.com/a?b=c");
        assert_eq!(p.resolve(Some("https://app.example.com@attacker.test/")), "https://app.example.com");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query_value("https://a.b/c?d=e&f"), "https%3A%2F%2Fa.b%2Fc%3Fd%3De%26f");
    }
}
