//! The redirect allow-list on any requested URL. Beyond not panicking, it checks the one thing
//! that matters: whatever it lets through, a WHATWG URL parser (what browsers use) reads as
//! an http(s) URL on one of the allowed hosts, with no credentials.
#![no_main]

use auth_core::domain::RedirectPolicy;
use libfuzzer_sys::fuzz_target;

const SITE: &str = "https://app.example.com";

fn policy() -> RedirectPolicy {
    let allow_list = vec![
        "https://*.example.com/**".into(),
        "http://localhost:3000/**".into(),
        "https://preview-*.example.net/callback?next=*".into(),
        "myapp://auth/**".into(),
    ];
    RedirectPolicy::new(SITE, allow_list).expect("a valid policy")
}

fn allowed_host(host: &str) -> bool {
    host == "app.example.com"
        || host.strip_suffix(".example.com").is_some_and(|label| !label.is_empty() && !label.contains('.'))
        || host == "localhost"
        || host.strip_prefix("preview-").and_then(|h| h.strip_suffix(".example.net")).is_some_and(|l| !l.contains('.'))
}

fuzz_target!(|input: &str| {
    let resolved = policy().resolve(Some(input));
    if resolved == SITE {
        return;
    }
    assert_eq!(resolved, input.trim(), "only the requested URL or the site URL comes back");
    let url = url::Url::parse(&resolved).expect("an allowed URL parses");
    assert!(matches!(url.scheme(), "http" | "https"), "scheme of {resolved:?}");
    assert!(url.username().is_empty() && url.password().is_none(), "credentials in {resolved:?}");
    let host = url.host_str().unwrap_or_default();
    assert!(allowed_host(host), "{resolved:?} leads to host {host:?}");
});
