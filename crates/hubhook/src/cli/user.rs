//! `hubhook user add`: accounts for the web pages (the board and the manager pages).

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use super::{Ctx, hotel_id, not_found};
use crate::{
    domain::{Role, password, secret::fill_random},
    store::NewUser,
};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input (one line)
    Add {
        hotel_id: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["staff", "manager"])]
        role: String,
        /// Read the password from standard input (required: passwords never go in arguments)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    id: String,
    hotel_id: String,
    email: String,
    role: Role,
}

/// Trimmed and lower-cased; one `@` with something on each side, no spaces, at most 254 bytes.
pub fn parse_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_ascii_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(email)
}

pub async fn run(ctx: &Ctx, cmd: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Add {
        hotel_id: h,
        email,
        role,
        password_stdin: _,
    } = cmd;
    let hotel = hotel_id(&h)?;
    let email = parse_email(&email).with_context(|| format!("invalid email {email:?}"))?;
    let role =
        Role::parse(&role).ok_or_else(|| anyhow::anyhow!("role must be staff or manager"))?;
    let mut input = String::new();
    std::io::stdin()
        .take(password::MAX_LENGTH as u64 + 2)
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    // One line: the newline `echo` or a terminal adds is not part of the password.
    let pw = input.lines().next().unwrap_or("");
    let hash = tokio::task::spawn_blocking({
        let pw = pw.to_owned();
        move || password::hash(&pw)
    })
    .await??;
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
            password_hash: hash,
        })
        .await
        .map_err(not_found(&hotel))?;
    let created = Created {
        id,
        hotel_id: hotel.to_string(),
        email,
        role,
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

#[cfg(test)]
mod tests {
    use super::parse_email;

    #[test]
    fn emails() {
        assert_eq!(
            parse_email(" Ana@Hotel.PT ").as_deref(),
            Some("ana@hotel.pt")
        );
        for bad in ["", "ana", "@hotel", "ana@", "a b@c", "a@b@c"] {
            assert_eq!(parse_email(bad), None, "{bad:?}");
        }
    }
}
