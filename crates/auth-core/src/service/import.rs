use super::AuthService;
use crate::domain::User;
use crate::error::AuthError;
use crate::ports::UniqueField;

impl AuthService {
    /// Stores users brought from another server as they are (ids, times and password hashes
    /// included), in one transaction, skipping those whose id, email, phone or username is taken.
    /// Returns, per user in order, `None` when stored or the field that was taken. Hashes of other
    /// schemes stay until the user's next password sign-in replaces them (see `PasswordHasher`).
    pub async fn import_users(&self, users: &[User]) -> Result<Vec<Option<UniqueField>>, AuthError> {
        Ok(self.ports.users.import_users(users).await?)
    }
}
