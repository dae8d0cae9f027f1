use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Where emailed links may send the browser: the site URL, or an address matching the allow
/// list. Patterns are globs: `*` matches within one path segment, `**` across segments, `?`
/// one character.
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
        let site = self.site_url.trim_end_matches('/');
        let under_site = !site.is_empty()
            && (url == site || url.strip_prefix(site).is_some_and(|rest| rest.starts_with(['/', '?', '#'])));
        under_site || self.allow_list.iter().any(|pattern| glob_matches(pattern.as_bytes(), url.as_bytes()))
    }
}

fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob_matches(rest, &text[i..])),
        [b'*', rest @ ..] => {
            let segment = text.iter().position(|&c| c == b'/').unwrap_or(text.len());
            (0..=segment).any(|i| glob_matches(rest, &text[i..]))
        }
        [b'?', rest @ ..] => text.first().is_some_and(|&c| c != b'/') && glob_matches(rest, &text[1..]),
        [p, rest @ ..] => text.first() == Some(p) && glob_matches(rest, &text[1..]),
    }
}

/// Characters left as they are in a query value: RFC 3986's unreserved set.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `value` encoded for a URL query string.
pub fn query_value(value: &str) -> String {
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
    fn query_values_are_encoded() {
        assert_eq!(query_value("https://a.b/c?d=e&f"), "https%3A%2F%2Fa.b%2Fc%3Fd%3De%26f");
    }
}
