use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Where emailed links may send the browser: the site URL, or an address matching the allow
/// list. Patterns are globs: `*` matches within one host label or path segment (never across
/// `.`, `/`, `?`, `#`, `@` or `\`), `**` matches anything, `?` one such character. A target
/// with credentials, a backslash, whitespace or control characters is never allowed, since
/// browsers and servers may read its host differently.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedirectPolicy {
    /// The application's URL, the default target.
    pub site_url: String,
    /// Further allowed targets.
    pub allow_list: Vec<String>,
}

impl RedirectPolicy {
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
        RedirectPolicy {
            site_url: "https://app.example.com".into(),
            allow_list: allow.iter().map(|s| (*s).to_owned()).collect(),
        }
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
