//! `hubhook user add|list|set|remove`: accounts for the web pages (the board and the manager
//! pages). Disabling or removing an account ends its sessions at once (in the same transaction);
//! API keys belong to the hotel, not to an account (docs/security.md, "Accounts and sessions").

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use super::{Ctx, hotel_id, not_found};
use crate::{
    domain::{
        HotelId, Role,
        account::{normalize_email, parse_department},
        password,
        secret::fill_random,
    },
    store::{NewUser, StoreError, UserChange, UserInfo},
};

pub use crate::domain::account::parse_email;

/// `hubhook user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input (one line)
    Add {
        hotel_id: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["staff", "manager"])]
        role: String,
        /// The department the user belongs to (free text)
        #[arg(long)]
        department: Option<String>,
        /// Read the password from standard input (required: passwords never go in arguments)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// The hotel's accounts
    List { hotel_id: String },
    /// Change an account: its role, department, whether it is disabled, its password
    Set {
        hotel_id: String,
        email: String,
        #[arg(long, value_parser = ["staff", "manager"])]
        role: Option<String>,
        /// The department ("" clears it)
        #[arg(long)]
        department: Option<String>,
        /// A disabled account cannot sign in; its sessions end at once
        #[arg(long)]
        disabled: Option<bool>,
        /// Read a new password from standard input (one line); the account's sessions end
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an account; its sessions end at once
    Remove { hotel_id: String, email: String },
}

/// An account as the commands print it with `--json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Account {
    id: String,
    hotel_id: String,
    email: String,
    role: Role,
    department: Option<String>,
    disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
}

impl Account {
    fn of(hotel: &HotelId, u: UserInfo) -> Self {
        Self {
            id: u.id,
            hotel_id: hotel.to_string(),
            email: u.email,
            role: u.role,
            department: u.department,
            disabled: u.disabled,
            created_at: Some(u.created_at),
        }
    }

    fn line(&self) -> String {
        format!(
            "{:<32} {:<8} {:<20} {}",
            self.email,
            self.role.as_str(),
            self.department.as_deref().unwrap_or("-"),
            if self.disabled { "disabled" } else { "active" }
        )
    }
}

fn role_of(raw: &str) -> anyhow::Result<Role> {
    Role::parse(raw).ok_or_else(|| anyhow::anyhow!("role must be staff or manager"))
}

/// The password on standard input (one line: the newline `echo` or a terminal adds is not part of
/// it), hashed with argon2id.
async fn password_from_stdin() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(password::MAX_LENGTH as u64 + 2)
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    let pw = input.lines().next().unwrap_or("").to_owned();
    Ok(tokio::task::spawn_blocking(move || password::hash(&pw)).await??)
}

/// `NotFound` of a command on one account: the hotel or the account is missing.
fn no_account<'a>(
    hotel: &'a HotelId,
    email: &'a str,
) -> impl FnOnce(StoreError) -> anyhow::Error + 'a {
    move |e| match e {
        StoreError::NotFound => anyhow::anyhow!("no account {email} in hotel {hotel}"),
        other => other.into(),
    }
}

/// Runs one `hubhook user` command.
pub async fn run(ctx: &Ctx, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            hotel_id: h,
            email,
            role,
            department,
            password_stdin: _,
        } => {
            let hotel = hotel_id(&h)?;
            let email = parse_email(&email).with_context(|| format!("invalid email {email:?}"))?;
            let role = role_of(&role)?;
            let department = parse_department(department.as_deref().unwrap_or(""))?;
            let hash = password_from_stdin().await?;
            let mut raw = [0u8; 8];
            fill_random(&mut raw);
            let id = format!(
                "usr_{}",
                raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            ctx.store()
                .await?
                .create_user(NewUser {
                    id: id.clone(),
                    hotel: hotel.clone(),
                    email: email.clone(),
                    role,
                    department: department.clone(),
                    password_hash: hash,
                })
                .await
                .map_err(not_found(&hotel))?;
            let created = Account {
                id,
                hotel_id: hotel.to_string(),
                email,
                role,
                department,
                disabled: false,
                created_at: None,
            };
            ctx.print(&created, || {
                format!(
                    "Account {} ({}) created for hotel {}: sign in at /login.",
                    created.email,
                    role.as_str(),
                    created.hotel_id
                )
            })
        }
        UserCommand::List { hotel_id: h } => {
            let hotel = hotel_id(&h)?;
            let users = ctx
                .store()
                .await?
                .list_users(&hotel)
                .await
                .map_err(not_found(&hotel))?;
            let users: Vec<Account> = users.into_iter().map(|u| Account::of(&hotel, u)).collect();
            ctx.print(&users, || {
                let mut out = format!("{:<32} {:<8} {:<20} STATUS", "EMAIL", "ROLE", "DEPARTMENT");
                for u in &users {
                    out.push('\n');
                    out.push_str(&u.line());
                }
                out
            })
        }
        UserCommand::Set {
            hotel_id: h,
            email,
            role,
            department,
            disabled,
            password_stdin,
        } => {
            let hotel = hotel_id(&h)?;
            let email = normalize_email(&email);
            let change = UserChange {
                role: role.as_deref().map(role_of).transpose()?,
                department: department.as_deref().map(parse_department).transpose()?,
                disabled,
                password_hash: match password_stdin {
                    true => Some(password_from_stdin().await?),
                    false => None,
                },
            };
            if change.role.is_none()
                && change.department.is_none()
                && change.disabled.is_none()
                && change.password_hash.is_none()
            {
                anyhow::bail!(
                    "nothing to change: give --role, --department, --disabled or --password-stdin"
                );
            }
            let ends = change.ends_sessions();
            let user = ctx
                .store()
                .await?
                .update_user(&hotel, &email, change, None)
                .await
                .map_err(no_account(&hotel, &email))?;
            let account = Account::of(&hotel, user);
            ctx.print(&account, || {
                let mut out = format!("Account {}", account.line().trim_end());
                if ends {
                    out.push_str("\nIts sessions have ended.");
                }
                out
            })
        }
        UserCommand::Remove { hotel_id: h, email } => {
            let hotel = hotel_id(&h)?;
            let email = normalize_email(&email);
            ctx.store()
                .await?
                .remove_user(&hotel, &email)
                .await
                .map_err(no_account(&hotel, &email))?;
            ctx.print(
                &serde_json::json!({"hotelId": hotel.to_string(), "email": email, "removed": true}),
                || format!("Removed account {email} of hotel {hotel}; its sessions have ended."),
            )
        }
    }
}
