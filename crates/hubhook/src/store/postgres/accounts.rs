//! The PostgreSQL store's API keys, users and sessions.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::board::unassign_departed;
use super::notify::announce;
use super::tasks::hotel_exists;
use super::{PostgresStore, exec, opt_text, query, query_opt, text};
use crate::domain::{HotelId, assignment::Departure, time};
use crate::store::rows::{
    USER_COLS, USER_INFO_COLS, api_key_from_row, key_info_from_row, session_from_row,
    user_from_row, user_info_from_row,
};
use crate::store::{
    AccountStore, ApiKey, ApiKeyInfo, NewUser, SessionUser, StoreError, User, UserChange, UserInfo,
};

/// Who the history says unassigned a departed user's tasks.
const ACTOR: &str = "hubhook";

/// The hotel's account with this email, as listed; `NotFound` if it has none. `FOR UPDATE` when
/// `lock`: a change and a removal of one account wait for each other.
async fn user_info<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    email: &str,
    lock: bool,
) -> Result<UserInfo, StoreError> {
    let sql = format!(
        "SELECT {USER_INFO_COLS} FROM users WHERE hotel_id = $1 AND email = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = query_opt(c, &sql, &[&hotel, &text(email)]).await?;
    row.as_ref()
        .map(user_info_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_api_key(&self, key: ApiKey, hash: [u8; 32]) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            hotel_exists(&tx, key.hotel_id.as_str()).await?;
            exec(
                &tx,
                "INSERT INTO api_keys (id, hotel_id, hash, role, created_at, created_by)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &key.id,
                    &key.hotel_id.as_str(),
                    &&hash[..],
                    &key.role.as_str(),
                    &time::format(time::now()),
                    &key.created_by,
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
            // A key made by an account works only while that account is enabled.
            "SELECT k.id, k.hotel_id, k.role, k.created_by FROM api_keys k
             LEFT JOIN users u ON u.id = k.created_by
             WHERE k.hash = $1 AND NOT coalesce(u.disabled, false)",
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
                "INSERT INTO users (id, hotel_id, email, role, department, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    &u.id,
                    &u.hotel.as_str(),
                    &text(&u.email),
                    &u.role.as_str(),
                    &opt_text(&u.department),
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
        // The unique index on lower(email) finds the row; the exact comparison decides, so that
        // only the spelling `normalize_email` gives (ASCII folded, nothing else) reaches the
        // account, as on SQLite, and as the login limiter counts it.
        let row = query_opt(
            &client,
            &format!("SELECT {USER_COLS} FROM users WHERE lower(email) = lower($1) AND email = $1"),
            &[&text(email)],
        )
        .await?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map(Option::flatten)
    }

    async fn list_users(&self, hotel: &HotelId) -> Result<Vec<UserInfo>, StoreError> {
        let client = self.pool.get().await?;
        hotel_exists(&client, hotel.as_str()).await?;
        let rows = query(
            &client,
            &format!(
                "SELECT {USER_INFO_COLS} FROM users WHERE hotel_id = $1 ORDER BY email COLLATE \"C\""
            ),
            &[&hotel.as_str()],
        )
        .await?;
        rows.iter().map(user_info_from_row).collect()
    }

    async fn update_user(
        &self,
        hotel: &HotelId,
        email: &str,
        change: UserChange,
        keep: Option<[u8; 32]>,
    ) -> Result<UserInfo, StoreError> {
        in_tx!(self, |tx| {
            let before = user_info(&tx, hotel.as_str(), email, true).await?;
            exec(
                &tx,
                "UPDATE users SET role = coalesce($2, role),
                    department = CASE WHEN $3 THEN $4 ELSE department END,
                    disabled = coalesce($5, disabled),
                    password_hash = coalesce($6, password_hash)
                 WHERE id = $1",
                &[
                    &before.id,
                    &change.role.map(|r| r.as_str()),
                    &change.department.is_some(),
                    &change.department.clone().flatten().as_deref().map(text),
                    &change.disabled,
                    &change.password_hash,
                ],
            )
            .await?;
            if change.ends_sessions() {
                exec(
                    &tx,
                    "DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2",
                    &[&before.id, &keep.as_ref().map(|k| &k[..])],
                )
                .await?;
            }
            // Disabled: their open tasks go back to nobody (docs/operations-model.md).
            let (changes, queued) = match change.disabled == Some(true) && !before.disabled {
                true => {
                    let why = Departure::Disabled;
                    unassign_departed(&tx, hotel, &before.id, &before.email, why, ACTOR).await?
                }
                false => (Vec::new(), 0),
            };
            announce(&tx, &self.signals, &changes, queued).await?;
            let after = user_info(&tx, hotel.as_str(), email, false).await?;
            Ok((after, changes, queued))
        })
        .map(|(after, changes, queued)| {
            self.signals.queued(queued);
            self.signals.events.publish(changes);
            after
        })
    }

    async fn remove_user(&self, hotel: &HotelId, email: &str) -> Result<(), StoreError> {
        let (changes, queued) = in_tx!(self, |tx| {
            let user = user_info(&tx, hotel.as_str(), email, true).await?;
            exec(&tx, "DELETE FROM sessions WHERE user_id = $1", &[&user.id]).await?;
            exec(
                &tx,
                "DELETE FROM api_keys WHERE created_by = $1",
                &[&user.id],
            )
            .await?;
            let why = Departure::Removed;
            let r = unassign_departed(&tx, hotel, &user.id, &user.email, why, ACTOR).await?;
            announce(&tx, &self.signals, &r.0, r.1).await?;
            exec(&tx, "DELETE FROM users WHERE id = $1", &[&user.id]).await?;
            Ok(r)
        })?;
        self.signals.queued(queued);
        self.signals.events.publish(changes);
        Ok(())
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
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled",
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
            "SELECT k.id, k.role, k.created_at, u.email FROM api_keys k
             LEFT JOIN users u ON u.id = k.created_by
             WHERE k.hotel_id = $1 ORDER BY k.created_at, k.id",
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
