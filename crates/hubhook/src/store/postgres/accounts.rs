//! The PostgreSQL store's API keys, users and sessions.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::tasks::hotel_exists;
use super::{PostgresStore, exec, query, query_opt, text};
use crate::domain::{HotelId, Role, time};
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
        let Some(r) = row else {
            return Ok(None);
        };
        let (id, hotel, role): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        Ok((|| {
            Some(ApiKey {
                id,
                hotel_id: HotelId::parse(&hotel).ok()?,
                role: Role::parse(&role)?,
            })
        })())
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
        let Some(r) = row else { return Ok(None) };
        let hotel: String = r.try_get(1)?;
        let role: String = r.try_get(3)?;
        let (Ok(hotel), Some(role)) = (HotelId::parse(&hotel), Role::parse(&role)) else {
            return Ok(None);
        };
        Ok(Some(User {
            id: r.try_get(0)?,
            hotel,
            email: r.try_get(2)?,
            role,
            password_hash: r.try_get(4)?,
        }))
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
        let Some(r) = row else { return Ok(None) };
        let hotel: String = r.try_get(2)?;
        let role: String = r.try_get(3)?;
        let (Ok(hotel), Some(role)) = (HotelId::parse(&hotel), Role::parse(&role)) else {
            return Ok(None);
        };
        Ok(Some(SessionUser {
            user_id: r.try_get(0)?,
            email: r.try_get(1)?,
            hotel,
            role,
        }))
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
        let mut keys = Vec::with_capacity(rows.len());
        for r in &rows {
            let role: String = r.try_get(1)?;
            if let Some(role) = Role::parse(&role) {
                keys.push(ApiKeyInfo {
                    id: r.try_get(0)?,
                    role,
                    created_at: r.try_get(2)?,
                });
            }
        }
        Ok(keys)
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
