use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Where emailed links may send the browser: the site URL, or an address matching the allow
/// list. Patterns are globs: `*` matches within one host label or path segment (never across
/// `.`, `/`, `?`, `#`, `@` or `\`), `**` matches anything, `?` one such character. A target
/// with credentials, a backslash, whitespace or control characters is never allowed, since
/// browsers and servers may read its host differently. Besides http(s), a pattern may name an
/// app's own scheme (`io.supabase.myapp://login-callback`, `com.example.app://**`), the deep
/// links of mobile apps: its scheme must match exactly, the rest as the pattern says. Built only
/// through [`RedirectPolicy::new`], which refuses a site URL or pattern that could not work or
/// would allow more than it says.
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
    /// `allow_list` patterns match. Each pattern must start with a literal scheme and `://`
    /// (not one the browser runs or reads itself, such as `javascript:`), hold no credentials,
    /// whitespace or backslash, and, for http(s), name a host and have no `**` before its path:
    /// a `**` in the host (`https://*.example.com**`) would also match `x.example.com.evil.net`.
    /// An app's own scheme has no host to smuggle (the system hands every such link to the
    /// app), so its patterns may go on with `**` at once.
    pub fn new(site_url: &str, allow_list: Vec<String>) -> Result<Self, RedirectPolicyError> {
        let site_url = site_url.trim();
        if !plain_web_url(site_url) {
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
        under_site || self.allow_list.iter().any(|pattern| pattern_matches(pattern, url))
    }
}

/// Schemes a browser interprets itself (runs, reads locally or shows inline) rather than
/// handing to an app: never a redirect target, whatever the allow list says.
const BROWSER_SCHEMES: [&str; 7] = ["javascript", "vbscript", "data", "file", "blob", "about", "filesystem"];

/// The scheme of `url` and what follows `://`, when the scheme is a valid RFC 3986 scheme.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

/// Whether `scheme` is http or https, in any case.
fn is_web(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
}

/// Whether `scheme` is one of [`BROWSER_SCHEMES`].
fn is_browser_scheme(scheme: &str) -> bool {
    BROWSER_SCHEMES.iter().any(|s| scheme.eq_ignore_ascii_case(s))
}

/// An absolute URL whose authority holds no credentials, with no backslash, whitespace or
/// control character anywhere: an http(s) URL naming a host, or one of an app's own scheme.
fn plain_url(url: &str) -> bool {
    let Some((scheme, rest)) = split_scheme(url) else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let scheme_ok = if is_web(scheme) { web_authority(authority) } else { !is_browser_scheme(scheme) };
    scheme_ok && !authority.contains('@') && !url.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control())
}

/// Whether an http(s) authority is `host[:port]` as every browser parses it: a bracketed IPv6
/// literal, or a name of non-empty labels of ASCII letters, digits, `-` and `_`; then at most one port of
/// digits. Anything else (`[` inside a name, `%`, `<`, `|`, non-ASCII) a WHATWG parser refuses
/// or rewrites, so such a URL is never a redirect target.
fn web_authority(authority: &str) -> bool {
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let Some((literal, after)) = rest.split_once(']') else { return false };
            let literal_ok =
                !literal.is_empty() && literal.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => return false,
            };
            (literal_ok, port)
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            // Labels are not empty (a final dot, as in `example.com.`, is the root's).
            let labels = host.strip_suffix('.').unwrap_or(host);
            let name_ok = !labels.is_empty()
                && labels.split('.').all(|label| !label.is_empty())
                && labels.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            (name_ok, port)
        }
    };
    host_ok && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A plain http(s) URL: the only kind a site URL may be.
fn plain_web_url(url: &str) -> bool {
    split_scheme(url).is_some_and(|(scheme, _)| matches!(scheme, "http" | "https")) && plain_url(url)
}

/// Why `pattern` cannot be an allow-list entry, if it cannot.
fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    let Some((scheme, rest)) = split_scheme(pattern) else {
        return Err("must start with a scheme and :// (https://, or an app's own such as com.example.app://)");
    };
    if is_browser_scheme(scheme) {
        return Err("must not use a scheme the browser runs or reads itself (javascript:, data:, file: and the like)");
    }
    if pattern.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control()) {
        return Err("must not hold a backslash, whitespace or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not hold credentials (@)");
    }
    if !is_web(scheme) {
        return Ok(());
    }
    if !matches!(scheme, "http" | "https") {
        return Err("must write http:// or https:// in lower case");
    }
    if authority.is_empty() {
        return Err("must name a host");
    }
    if authority.contains("**") {
        return Err("`**` before the path matches other hosts too; use `*` for one host label");
    }
    Ok(())
}

/// Whether `url` matches `pattern`: the scheme exactly (ignoring case, as schemes do), the rest
/// as a glob.
fn pattern_matches(pattern: &str, url: &str) -> bool {
    match (split_scheme(pattern), split_scheme(url)) {
        (Some((p_scheme, p_rest)), Some((u_scheme, u_rest))) => {
            p_scheme.eq_ignore_ascii_case(u_scheme) && glob_matches(p_rest.as_bytes(), u_rest.as_bytes())
        }
        _ => false,
    }
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
            "javascript://app.example.com/**",
            "JavaScript://**",
            "data://**",
            "file:///etc/**",
            "1app://cb",
            "com.example.app:/cb",
            "com.example.app://user@cb",
            "com.example.app://cb\\x",
            "com.example.app://c b",
            "HTTPS://app.example.com/**",
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
    fn a_web_url_names_a_host_a_browser_can_parse() {
        // Found by fuzz/fuzz_targets/redirect.rs: `*` took `[` into the host, which browsers
        // refuse to parse (so the redirect was allowed yet could never be followed).
        let p = policy(&["https://*.example.com/**", "http://localhost:3000/**"]);
        for odd in [
            "https://OOOO[Oa.example.com/pp",
            "https://a]b.example.com/",
            "https://a%2fb.example.com/",
            "https://a<b.example.com/",
            "https://a|b.example.com/",
            "https://a^b.example.com/",
            "https://a\u{e9}.example.com/",
            "https://x.example.com:80:80/",
            "https://x.example.com:8x/",
            "http://localhost:3000:1/",
            // Also found by the fuzzer: `*` matching an empty label.
            "https://.example.com/pp",
            "https://a..example.com/",
        ] {
            assert_eq!(p.resolve(Some(odd)), "https://app.example.com", "{odd}");
        }
        for fine in ["https://a-b_c.example.com/", "https://x.example.com/p?q=[1]", "http://localhost:3000/a"] {
            assert_eq!(p.resolve(Some(fine)), fine);
        }
        let ipv6 = RedirectPolicy::new("http://[::1]:3000", Vec::new()).unwrap();
        assert_eq!(ipv6.resolve(Some("http://[::1]:3000/cb")), "http://[::1]:3000/cb");
    }

    #[test]
    fn an_apps_own_scheme_is_allowed_by_its_pattern_only() {
        let p = policy(&["io.supabase.myapp://login-callback", "com.example.app://**"]);
        for allowed in [
            "io.supabase.myapp://login-callback",
            "IO.Supabase.MyApp://login-callback",
            "com.example.app://",
            "com.example.app://auth/callback?next=/home",
            "com.example.app:///cb#x",
        ] {
            assert_eq!(p.resolve(Some(allowed)), allowed, "{allowed}");
        }
        for refused in [
            "io.supabase.myapp://login-callback/more",
            "io.supabase.myapp://login-callbackx",
            "io.supabase.myapp2://login-callback",
            "xio.supabase.myapp://login-callback",
            "com.example.app.evil://x",
            "https://com.example.app/x",
            "com.example.app://user@x",
            "com.example.app://x\\y",
            "com.example.app://x y",
            "javascript://com.example.app/%0aalert(1)",
            "com.example.app:x",
        ] {
            assert_eq!(p.resolve(Some(refused)), "https://app.example.com", "{refused}");
        }
        // An http(s) pattern never lets an app scheme in, nor the reverse.
        let web = policy(&["https://*/**"]);
        assert_eq!(web.resolve(Some("com.example.app://x")), "https://app.example.com");
        // A site URL stays a web address.
        assert_eq!(RedirectPolicy::new("com.example.app://", Vec::new()), Err(RedirectPolicyError::SiteUrl));
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query_value("https://a.b/c?d=e&f"), "https%3A%2F%2Fa.b%2Fc%3Fd%3De%26f");
    }
}
