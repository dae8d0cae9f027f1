//! Splits the TLS parameters authd interprets itself (`sslmode`, `sslrootcert`) out of a
//! connection string, in either of libpq's forms, and leaves the rest for tokio-postgres (which
//! knows only three of libpq's six modes and no `sslrootcert`).

use percent_encoding::percent_decode_str;

/// The parameters authd reads itself, and the connection string without them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Split {
    /// The connection string for tokio-postgres.
    pub rest: String,
    /// `sslmode`, as written.
    pub sslmode: Option<String>,
    /// `sslrootcert`, as written (a path, or `system`).
    pub sslrootcert: Option<String>,
}

/// Splits a `postgres://…` URL or a `key=value …` string.
pub(crate) fn split(conninfo: &str) -> Result<Split, String> {
    let conninfo = conninfo.trim();
    if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        Ok(split_url(conninfo))
    } else {
        split_key_values(conninfo)
    }
}

fn split_url(url: &str) -> Split {
    let Some((base, query)) = url.split_once('?') else {
        return Split { rest: url.to_owned(), sslmode: None, sslrootcert: None };
    };
    let mut kept = Vec::new();
    let mut found = Split { rest: String::new(), sslmode: None, sslrootcert: None };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(key).decode_utf8_lossy();
        let value = || percent_decode_str(value).decode_utf8_lossy().into_owned();
        match key.as_ref() {
            "sslmode" => found.sslmode = Some(value()),
            "sslrootcert" => found.sslrootcert = Some(value()),
            _ => kept.push(pair),
        }
    }
    found.rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    found
}

/// libpq's `key = value` form: values are bare words or single-quoted with `\` escapes.
fn split_key_values(conninfo: &str) -> Result<Split, String> {
    let mut found = Split { rest: String::new(), sslmode: None, sslrootcert: None };
    let mut rest = String::new();
    let mut chars = conninfo.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else { break };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!("missing \"=\" after {key:?} in the connection string"));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => value.extend(chars.next().map(|(_, c)| c)),
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated quoted value in the connection string".into()),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
        }
        let end = chars.peek().map_or(conninfo.len(), |(i, _)| *i);
        match key.as_str() {
            "sslmode" => found.sslmode = Some(value),
            "sslrootcert" => found.sslrootcert = Some(value),
            _ => {
                rest.push_str(&conninfo[start..end]);
                rest.push(' ');
            }
        }
    }
    found.rest = rest.trim_end().to_owned();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters_are_taken_out_and_the_rest_kept() {
        let s = split("postgres://u:p@db:5432/app?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem")
            .unwrap();
        assert_eq!(s.rest, "postgres://u:p@db:5432/app?application_name=x");
        assert_eq!(s.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(s.sslrootcert.as_deref(), Some("/etc/ca.pem"));
        let s = split("postgresql://db/app?sslmode=require").unwrap();
        assert_eq!(s.rest, "postgresql://db/app");
        assert_eq!(split("postgres://db/app").unwrap().sslmode, None);
    }

    #[test]
    fn key_value_parameters_are_taken_out_and_quoting_is_understood() {
        let s = split("host=db  sslmode = 'verify-ca' password='a b\\'c' sslrootcert=/ca.pem dbname=app").unwrap();
        assert_eq!(s.rest, "host=db password='a b\\'c' dbname=app");
        assert_eq!(s.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(s.sslrootcert.as_deref(), Some("/ca.pem"));
        assert!(split("host=db sslmode").is_err());
        assert!(split("host='db").is_err());
    }
}
