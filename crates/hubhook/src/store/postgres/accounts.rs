//! The PostgreSQL store's API keys, users and sessions.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::tasks::hotel_exists;
use super::{PostgresStore, exec, query, query_opt, text};
use crate::domain::{HotelId, time};
use crate::store::rows::{api_key_from_row, key_info_from_row, session_from_row, user_from_row};
use crate::store::{AccountStore, ApiKey, ApiKeyInfo, NewUser, SessionUser, StoreError, User};

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_api_key(&self, key: ApiKey, hash: [u8; 32]) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            hotel_exists(&tx, key.hotel_id.as_str()).await?;
            exec(
                &tx,
                "INSERT INTO api_keys (id, hotel_id, hash, role, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                &[
                    &key.id,
                    &key.hotel_id.as_str(),
                    &&hash[..],
                    &key.role.as_str(),
                    &time::format(time::now()),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn find_api_key(&self, hash: [u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        let client = self.pool.get().await?;
        let row = query_opt(
            &client,
            "SELECT id, hotel_id, role FROM api_keys WHERE hash = $1",
            &[&&hash[..]],
        )
        .await?;
        row.as_ref()
            .map(api_key_from_row)
            .transpose()
            .map(Option::flatten)
    }

    async fn create_user(&self, u: NewUser) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            hotel_exists(&tx, u.hotel.as_str()).await?;
            let inserted = exec(
                &tx,
                "INSERT INTO users (id, hotel_id, email, role, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &u.id,
                    &u.hotel.as_str(),
                    &text(&u.email),
                    &u.role.as_str(),
                    &u.password_hash,
                    &time::format(time::now()),
                ],
            )
            .await?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "an account with the email {} already exists",
                    u.email
                )));
            }
            Ok(())
        })
    }

    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let row = query_opt(
            &client,
            "SELECT id, hotel_id, email, role, password_hash FROM users
             WHERE lower(email) = lower($1)",
            &[&text(email)],
        )
        .await?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map(Option::flatten)
    }

    async fn create_session(
        &self,
        token_hash: [u8; 32],
        user_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            let now = time::format(time::now());
            exec(&tx, "DELETE FROM sessions WHERE expires_at <= $1", &[&now]).await?;
            exec(
                &tx,
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &&token_hash[..],
                    &text(user_id),
                    &now,
                    &time::format(expires_at),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn find_session(
        &self,
        token_hash: [u8; 32],
        now: Timestamp,
    ) -> Result<Option<SessionUser>, StoreError> {
        let client = self.pool.get().await?;
        let row = query_opt(
            &client,
            "SELECT u.id, u.email, u.hotel_id, u.role FROM sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2",
            &[&&token_hash[..], &time::format(now)],
        )
        .await?;
        row.as_ref()
            .map(session_from_row)
            .transpose()
            .map(Option::flatten)
    }

    async fn delete_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        exec(
            &client,
            "DELETE FROM sessions WHERE token_hash = $1",
            &[&&token_hash[..]],
        )
        .await?;
        Ok(())
    }

    async fn list_api_keys(&self, hotel: &HotelId) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let client = self.pool.get().await?;
        let rows = query(
            &client,
            "SELECT id, role, created_at FROM api_keys WHERE hotel_id = $1 ORDER BY created_at, id",
            &[&hotel.as_str()],
        )
        .await?;
        rows.iter()
            .filter_map(|r| key_info_from_row(r).transpose())
            .collect()
    }

    async fn delete_api_key(&self, hotel: &HotelId, id: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let n = exec(
            &client,
            "DELETE FROM api_keys WHERE hotel_id = $1 AND id = $2",
            &[&hotel.as_str(), &text(id)],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
