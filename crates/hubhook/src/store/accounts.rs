//! Accounts (API keys, users, sessions): the types and the [`AccountStore`] trait.

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;
use crate::domain::{HotelId, Role};

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub hotel_id: HotelId,
    pub role: Role,
    /// The account that made it on the pages (its keys go when it is removed, and stop working
    /// while it is disabled); None for a key the operator made with `hubhook apikey create`.
    pub created_by: Option<String>,
}

/// An account of the web pages, as `hubhook user add` creates it.
pub struct NewUser {
    pub id: String,
    pub hotel: HotelId,
    /// Normalised (`domain::account::parse_email`): the stores compare it exactly.
    pub email: String,
    pub role: Role,
    /// Free text for now (`domain::account::parse_department`).
    pub department: Option<String>,
    /// argon2id, PHC string.
    pub password_hash: String,
}

/// An account as the login page checks it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub hotel: HotelId,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
    /// A disabled account cannot sign in and has no session.
    pub disabled: bool,
}

/// An account as `hubhook user list` and the manager pages show it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub department: Option<String>,
    pub disabled: bool,
    pub created_at: String,
}

/// A change to an account: each `Some` replaces that field, each `None` leaves it.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    /// `Some(None)` clears the department.
    pub department: Option<Option<String>>,
    pub disabled: Option<bool>,
    /// A new argon2id hash.
    pub password_hash: Option<String>,
}

impl UserChange {
    /// Whether the change ends the account's sessions (it is disabled, or its password changes).
    pub fn ends_sessions(&self) -> bool {
        self.disabled == Some(true) || self.password_hash.is_some()
    }
}

/// Who a live session belongs to.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: String,
    pub email: String,
    pub hotel: HotelId,
    pub role: Role,
}

/// An API key as the manager pages list it (the key itself is never kept).
#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    pub id: String,
    pub role: Role,
    pub created_at: String,
    /// The email of the account that made it; None for an operator's key.
    pub created_by: Option<String>,
}

/// Accounts: API keys, users of the web pages and their sessions.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_api_key(&self, key: ApiKey, hash: [u8; 32]) -> Result<(), StoreError>;
    async fn find_api_key(&self, hash: [u8; 32]) -> Result<Option<ApiKey>, StoreError>;

    async fn create_user(&self, user: NewUser) -> Result<(), StoreError>;
    /// The account with this email, compared exactly with a normalised email
    /// (`domain::account::normalize_email`), with its password hash.
    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// The hotel's accounts, by email.
    async fn list_users(&self, hotel: &HotelId) -> Result<Vec<UserInfo>, StoreError>;
    /// Applies `change` to the hotel's account with this (normalised) email, `NotFound` if it has
    /// none. When the change ends sessions ([`UserChange::ends_sessions`]), the account's sessions
    /// are deleted in the same transaction, all but `keep` (the session of a user changing their
    /// own password).
    async fn update_user(
        &self,
        hotel: &HotelId,
        email: &str,
        change: UserChange,
        keep: Option<[u8; 32]>,
    ) -> Result<UserInfo, StoreError>;
    /// Deletes the hotel's account with this (normalised) email and its sessions in one
    /// transaction; `NotFound` if it has none.
    async fn remove_user(&self, hotel: &HotelId, email: &str) -> Result<(), StoreError>;
    /// Keeps a new session (by its token's SHA-256) and forgets expired ones.
    async fn create_session(
        &self,
        token_hash: [u8; 32],
        user_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The session's account, unless the session is unknown or expired at `now`, or its account
    /// is disabled or gone: every page and live stream re-checks its session through this.
    async fn find_session(
        &self,
        token_hash: [u8; 32],
        now: Timestamp,
    ) -> Result<Option<SessionUser>, StoreError>;
    async fn delete_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError>;

    async fn list_api_keys(&self, hotel: &HotelId) -> Result<Vec<ApiKeyInfo>, StoreError>;
    async fn delete_api_key(&self, hotel: &HotelId, id: &str) -> Result<(), StoreError>;
}
