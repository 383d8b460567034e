//! `hubhook apikey create`.

use clap::Subcommand;
use serde::Serialize;

use super::{Ctx, hotel_id, not_found};
use crate::{
    domain::{
        Role,
        secret::{hash_token, new_key_id, new_token},
    },
    store::ApiKey,
};

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create an API key for one hotel; it is shown only this once
    Create {
        hotel_id: String,
        #[arg(long, default_value = "staff", value_parser = ["staff", "manager"])]
        role: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    api_key: String,
    id: String,
    hotel_id: String,
    role: Role,
}

pub async fn run(ctx: &Ctx, cmd: ApikeyCommand) -> anyhow::Result<()> {
    let ApikeyCommand::Create { hotel_id: h, role } = cmd;
    let id = hotel_id(&h)?;
    let role =
        Role::parse(&role).ok_or_else(|| anyhow::anyhow!("role must be staff or manager"))?;
    let key = new_token("hhk_");
    let key_id = new_key_id();
    ctx.store()
        .await?
        .create_api_key(
            ApiKey {
                id: key_id.clone(),
                hotel_id: id.clone(),
                role,
                created_by: None,
            },
            hash_token(&key),
        )
        .await
        .map_err(not_found(&id))?;
    let created = Created {
        api_key: key,
        id: key_id,
        hotel_id: id.to_string(),
        role,
    };
    ctx.print(&created, || {
        format!(
            "API key {} ({}) for hotel {}:\n  {}\nIt is shown only now; send it as Authorization: Bearer <key>.",
            created.id,
            role.as_str(),
            created.hotel_id,
            created.api_key
        )
    })
}
