/// Which users to list, and which page of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// Keep users whose email, username or `user_metadata.full_name` contains this text,
    /// ignoring letter case.
    pub filter: Option<String>,
    /// Newest first (the admin API's default) rather than oldest first.
    pub newest_first: bool,
    /// Rows to skip.
    pub offset: u64,
    /// Most rows to return.
    pub limit: u64,
}

impl UserQuery {
    /// Every user, oldest first, `limit` at a time from `offset`.
    pub fn all(offset: u64, limit: u64) -> Self {
        Self { filter: None, newest_first: false, offset, limit }
    }

    /// Whether `haystack` (an email or username) matches the filter.
    pub fn matches(&self, haystack: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| haystack.to_lowercase().contains(&f.to_lowercase()))
    }

    /// The filter as a SQL `LIKE` pattern with `\` as the escape character, lower-cased.
    pub fn like_pattern(&self) -> Option<String> {
        self.filter.as_deref().map(|f| {
            let escaped: String = f
                .to_lowercase()
                .chars()
                .flat_map(|c| match c {
                    '\\' | '%' | '_' => vec!['\\', c],
                    other => vec![other],
                })
                .collect();
            format!("%{escaped}%")
        })
    }
}
