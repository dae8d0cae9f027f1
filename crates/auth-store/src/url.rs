use std::path::PathBuf;

/// The database a URL names, by scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`, passed to the driver unchanged.
    Postgres(String),
    /// `sqlite://path`: a file, relative to the working directory unless absolute.
    Sqlite(PathBuf),
}

/// A URL this store cannot open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}; accepted forms: postgres://user:password@host:5432/database, sqlite://path/to/authd.db")]
pub struct UrlError(String);

impl UrlError {
    /// A direct URL given beside a URL that is not PostgreSQL's, or naming SQLite.
    pub(crate) fn direct_not_postgres() -> Self {
        Self("a direct database URL goes with PostgreSQL only, and must be a postgres:// URL itself".into())
    }
}

impl DatabaseUrl {
    /// Reads a database URL.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(UrlError("sqlite:// needs a file path".into()));
            }
            if path == ":memory:" || path.starts_with("file::memory:") {
                // Each pooled connection would get its own empty database.
                return Err(UrlError("an in-memory SQLite database cannot be shared by a connection pool".into()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        let shown = match url.split_once("://") {
            Some((scheme, _)) => format!("unsupported database URL scheme {scheme:?}"),
            None => "the database URL has no scheme".to_owned(),
        };
        Err(UrlError(shown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_the_backend() {
        assert_eq!(DatabaseUrl::parse("postgres://u@h/db"), Ok(DatabaseUrl::Postgres("postgres://u@h/db".into())));
        assert!(matches!(DatabaseUrl::parse("postgresql://h/db"), Ok(DatabaseUrl::Postgres(_))));
        assert_eq!(DatabaseUrl::parse("sqlite://data/authd.db"), Ok(DatabaseUrl::Sqlite("data/authd.db".into())));
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/authd.db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/authd.db".into()))
        );
    }

    #[test]
    fn other_urls_are_refused_naming_the_accepted_forms() {
        for bad in ["mysql://h/db", "data/authd.db", "sqlite://", "sqlite://:memory:", ""] {
            let err = DatabaseUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains("postgres://") && err.contains("sqlite://"), "{bad}: {err}");
        }
        // A password in an unsupported URL is never echoed.
        assert!(!DatabaseUrl::parse("mysql://u:hunter2@h/db").unwrap_err().to_string().contains("hunter2"));
    }
}
