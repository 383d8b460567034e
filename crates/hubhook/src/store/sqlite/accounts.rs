//! The SQLite store's accounts: API keys, users and sessions ([`AccountStore`]).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, board::unassign_departed, hotel_exists};
use crate::{
    domain::{HotelId, assignment::Departure, time},
    store::{
        AccountStore, ApiKey, ApiKeyInfo, NewUser, SessionUser, StoreError, User, UserChange,
        UserInfo,
        rows::{
            USER_COLS, USER_INFO_COLS, api_key_from_row, key_info_from_row, session_from_row,
            user_from_row, user_info_from_row,
        },
    },
};

/// Who the history says unassigned a departed user's tasks.
const ACTOR: &str = "hubhook";

/// The hotel's account with this email, as listed; `NotFound` if it has none.
fn user_info(c: &Connection, hotel: &str, email: &str) -> Result<UserInfo, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {USER_INFO_COLS} FROM users WHERE hotel_id = ?1 AND email = ?2"
    ))?
    .query_row([hotel, email], |r| Ok(user_info_from_row(r)))
    .optional()?
    .ok_or(StoreError::NotFound)?
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_api_key(&self, key: ApiKey, hash: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |c| {
            hotel_exists(c, key.hotel_id.as_str())?;
            c.prepare_cached(
                "INSERT INTO api_keys (id, hotel_id, hash, role, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                key.id,
                key.hotel_id.as_str(),
                &hash[..],
                key.role.as_str(),
                time::format(time::now()),
                key.created_by
            ])?;
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, hash: [u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        self.read(move |c| {
            // A key made by an account works only while that account is enabled.
            c.prepare_cached(
                "SELECT k.id, k.hotel_id, k.role, k.created_by FROM api_keys k
                 LEFT JOIN users u ON u.id = k.created_by
                 WHERE k.hash = ?1 AND NOT coalesce(u.disabled, 0)",
            )?
            .query_and_then([&hash[..]], |r| api_key_from_row(r))?
            .next()
            .transpose()
            .map(Option::flatten)
        })
        .await
    }

    async fn create_user(&self, u: NewUser) -> Result<(), StoreError> {
        self.write(move |c| {
            hotel_exists(c, u.hotel.as_str())?;
            let inserted = c
                .prepare_cached(
                    "INSERT INTO users (id, hotel_id, email, role, department, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (email) DO NOTHING",
                )?
                .execute(params![
                    u.id,
                    u.hotel.as_str(),
                    u.email,
                    u.role.as_str(),
                    u.department,
                    u.password_hash,
                    time::format(time::now())
                ])?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "an account with the email {} already exists",
                    u.email
                )));
            }
            Ok(())
        })
        .await
    }

    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = email.to_owned();
        self.read(move |c| {
            // The column's NOCASE folds ASCII letters only, as `normalize_email` does.
            c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE email = ?1"))?
                .query_and_then([&email], |r| user_from_row(r))?
                .next()
                .transpose()
                .map(Option::flatten)
        })
        .await
    }

    async fn list_users(&self, hotel: &HotelId) -> Result<Vec<UserInfo>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            hotel_exists(c, hotel.as_str())?;
            c.prepare_cached(&format!(
                "SELECT {USER_INFO_COLS} FROM users WHERE hotel_id = ?1 ORDER BY email"
            ))?
            .query_and_then([hotel.as_str()], |r| user_info_from_row(r))?
            .collect()
        })
        .await
    }

    async fn update_user(
        &self,
        hotel: &HotelId,
        email: &str,
        change: UserChange,
        keep: Option<[u8; 32]>,
    ) -> Result<UserInfo, StoreError> {
        let hotel = hotel.clone();
        let email = email.to_owned();
        let (after, changes, queued) = self
            .write(move |c| {
                let before = user_info(c, hotel.as_str(), &email)?;
                c.prepare_cached(
                    "UPDATE users SET role = coalesce(?2, role),
                    department = CASE WHEN ?3 THEN ?4 ELSE department END,
                    disabled = coalesce(?5, disabled),
                    password_hash = coalesce(?6, password_hash)
                 WHERE id = ?1",
                )?
                .execute(params![
                    before.id,
                    change.role.map(|r| r.as_str()),
                    change.department.is_some(),
                    change.department.clone().flatten(),
                    change.disabled,
                    change.password_hash,
                ])?;
                if change.ends_sessions() {
                    c.prepare_cached(
                        "DELETE FROM sessions WHERE user_id = ?1 AND token_hash IS NOT ?2",
                    )?
                    .execute(params![before.id, keep.as_ref().map(|k| &k[..])])?;
                }
                // Disabled: their open tasks go back to nobody (docs/operations-model.md).
                let (changes, queued) = match change.disabled == Some(true) && !before.disabled {
                    true => {
                        let why = Departure::Disabled;
                        unassign_departed(c, &hotel, &before.id, &before.email, why, ACTOR)?
                    }
                    false => (Vec::new(), 0),
                };
                Ok((user_info(c, hotel.as_str(), &email)?, changes, queued))
            })
            .await?;
        self.queued(queued);
        self.events.publish(changes);
        Ok(after)
    }

    async fn remove_user(&self, hotel: &HotelId, email: &str) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        let email = email.to_owned();
        let (changes, queued) = self
            .write(move |c| {
                let user = user_info(c, hotel.as_str(), &email)?;
                c.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
                    .execute([&user.id])?;
                c.prepare_cached("DELETE FROM api_keys WHERE created_by = ?1")?
                    .execute([&user.id])?;
                let why = Departure::Removed;
                let r = unassign_departed(c, &hotel, &user.id, &user.email, why, ACTOR)?;
                c.prepare_cached("DELETE FROM users WHERE id = ?1")?
                    .execute([&user.id])?;
                Ok(r)
            })
            .await?;
        self.queued(queued);
        self.events.publish(changes);
        Ok(())
    }

    async fn create_session(
        &self,
        token_hash: [u8; 32],
        user_id: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let user_id = user_id.to_owned();
        self.write(move |c| {
            let now = time::format(time::now());
            c.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute([&now])?;
            c.prepare_cached(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &token_hash[..],
                user_id,
                now,
                time::format(expires_at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn find_session(
        &self,
        token_hash: [u8; 32],
        now: jiff::Timestamp,
    ) -> Result<Option<SessionUser>, StoreError> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT u.id, u.email, u.hotel_id, u.role FROM sessions s
                 JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND NOT u.disabled",
            )?
            .query_and_then(params![&token_hash[..], time::format(now)], |r| {
                session_from_row(r)
            })?
            .next()
            .transpose()
            .map(Option::flatten)
        })
        .await
    }

    async fn delete_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
                .execute([&token_hash[..]])?;
            Ok(())
        })
        .await
    }

    async fn list_api_keys(&self, hotel: &HotelId) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT k.id, k.role, k.created_at, u.email FROM api_keys k
                 LEFT JOIN users u ON u.id = k.created_by
                 WHERE k.hotel_id = ?1 ORDER BY k.created_at, k.id",
            )?;
            stmt.query_and_then([hotel.as_str()], |r| key_info_from_row(r))?
                .filter_map(Result::transpose)
                .collect()
        })
        .await
    }

    async fn delete_api_key(&self, hotel: &HotelId, id: &str) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        let id = id.to_owned();
        self.write(move |c| {
            let n = c
                .prepare_cached("DELETE FROM api_keys WHERE hotel_id = ?1 AND id = ?2")?
                .execute([hotel.as_str(), &id])?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }
}
