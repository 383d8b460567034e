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
}

/// An account of the web pages, as `hubhook user add` creates it.
pub struct NewUser {
    pub id: String,
    pub hotel: HotelId,
    pub email: String,
    pub role: Role,
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
}

/// Accounts: API keys, users of the web pages and their sessions.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_api_key(&self, key: ApiKey, hash: [u8; 32]) -> Result<(), StoreError>;
    async fn find_api_key(&self, hash: [u8; 32]) -> Result<Option<ApiKey>, StoreError>;

    async fn create_user(&self, user: NewUser) -> Result<(), StoreError>;
    /// The account with this email (case-insensitive), with its password hash.
    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Keeps a new session (by its token's SHA-256) and forgets expired ones.
    async fn create_session(
        &self,
        token_hash: [u8; 32],
        user_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The session's account, unless the session is unknown or expired at `now`.
    async fn find_session(
        &self,
        token_hash: [u8; 32],
        now: Timestamp,
    ) -> Result<Option<SessionUser>, StoreError>;
    async fn delete_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError>;

    async fn list_api_keys(&self, hotel: &HotelId) -> Result<Vec<ApiKeyInfo>, StoreError>;
    async fn delete_api_key(&self, hotel: &HotelId, id: &str) -> Result<(), StoreError>;
}
