//! `hubhook hotel create|list|rotate-tokens|set`.

use clap::Subcommand;
use serde::Serialize;

use super::{Ctx, hotel_id, not_found};
use crate::{
    domain::{
        HotelId,
        hotel::parse_timezone,
        secret::{hash_token, new_token},
        time::{
            ARCHIVE_AFTER_MAX_SECS, WEEK_SECS, format_shift_ends, parse_setting_duration_max,
            parse_shift_ends,
        },
    },
    store::{HotelSettings, NewHotel},
};

#[derive(Debug, Subcommand)]
pub enum HotelCommand {
    /// Create a hotel; prints its id and the two tokens, which are shown only this once
    Create {
        #[arg(long)]
        name: String,
        /// The hotel id hotels type into Duve (default: generated)
        #[arg(long)]
        id: Option<String>,
        /// IANA timezone, e.g. Europe/Lisbon
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
    /// List hotels
    List,
    /// Replace both tokens; the old ones stop working at once
    RotateTokens { hotel_id: String },
    /// Change a hotel's name, timezone, escalation, merge window, shift ends, archiving or whether
    /// paid orders are synced
    Set {
        hotel_id: String,
        #[arg(long)]
        name: Option<String>,
        /// IANA timezone, e.g. Europe/Lisbon (local times of requests, pages, the dashboard)
        #[arg(long)]
        timezone: Option<String>,
        #[arg(long)]
        sync_paid_orders: Option<bool>,
        /// How long a task may stay open (not accepted) before it escalates: 90s, 10m, 2h; 0 turns
        /// it off (default 10m)
        #[arg(long, value_name = "DURATION")]
        escalate_after: Option<String>,
        /// Within how long a repeated request for the same room and service grows the open task
        /// instead of making another: 90s, 10m, 2h; 0 turns merging off (default 10m)
        #[arg(long, value_name = "DURATION")]
        merge_window: Option<String>,
        /// Local times at which a shift ends and its report is sent: 07:00,15:00,23:00; "" or 0
        /// for none (default none)
        #[arg(long, value_name = "HH:MM[,HH:MM...]")]
        shift_ends: Option<String>,
        /// After how long a task left unfinished leaves the board (kept, with its history, in the
        /// API): 12h, 3d, up to 90d; 0 turns it off (default 0)
        #[arg(long, value_name = "DURATION")]
        archive_after: Option<String>,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    hotel_id: String,
    access_token: String,
    password_token: String,
}

impl Credentials {
    fn new(hotel: &HotelId) -> Self {
        Self {
            hotel_id: hotel.to_string(),
            access_token: new_token("hhat_"),
            password_token: new_token("hhpt_"),
        }
    }

    fn text(&self, what: &str) -> String {
        format!(
            "{what}\n\nPaste these into Duve (Settings > Connections > Outgoing, custom headers):\n  custom_hotel_id:       {}\n  custom_access_token:   {}\n  custom_password_token: {}\n\nThe tokens are shown only now; hubhook keeps only their hashes.",
            self.hotel_id, self.access_token, self.password_token
        )
    }
}

fn timezone(raw: &str) -> anyhow::Result<String> {
    parse_timezone(raw).map(|_| raw.to_owned()).ok_or_else(|| {
        anyhow::anyhow!("unknown timezone {raw:?} (use an IANA name such as Europe/Lisbon)")
    })
}

pub async fn run(ctx: &Ctx, cmd: HotelCommand) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    match cmd {
        HotelCommand::Create {
            name,
            id,
            timezone: tz,
        } => {
            let name = name.trim().to_owned();
            anyhow::ensure!(!name.is_empty(), "the hotel name is empty");
            let id = match id {
                Some(raw) => hotel_id(&raw)?,
                None => HotelId::generate(),
            };
            let creds = Credentials::new(&id);
            store
                .create_hotel(NewHotel {
                    id: id.clone(),
                    name: name.clone(),
                    timezone: timezone(&tz)?,
                    access_hash: hash_token(&creds.access_token),
                    password_hash: hash_token(&creds.password_token),
                })
                .await?;
            ctx.print(&creds, || {
                creds.text(&format!("Hotel {name:?} created with id {id}."))
            })
        }
        HotelCommand::List => {
            let hotels = store.list_hotels().await?;
            ctx.print(&hotels, || {
                let mut out = format!(
                    "{:<24} {:<28} {:<20} {:>6}  {:<8} {:<9} {:<6} {:<8} shift ends",
                    "ID", "NAME", "TIMEZONE", "ROOMS", "paid", "escalate", "merge", "archive"
                );
                for h in &hotels {
                    out.push_str(&format!(
                        "\n{:<24} {:<28} {:<20} {:>6}  {:<8} {:<9} {:<6} {:<8} {}",
                        h.hotel_id,
                        h.name,
                        h.timezone,
                        h.rooms,
                        if h.sync_paid_orders {
                            "synced"
                        } else {
                            "ignored"
                        },
                        h.escalate_after,
                        h.merge_window,
                        h.archive_after,
                        h.shift_ends.join(",")
                    ));
                }
                out
            })
        }
        HotelCommand::RotateTokens { hotel_id: raw } => {
            let id = hotel_id(&raw)?;
            let creds = Credentials::new(&id);
            store
                .set_tokens(
                    &id,
                    hash_token(&creds.access_token),
                    hash_token(&creds.password_token),
                )
                .await
                .map_err(not_found(&id))?;
            ctx.print(&creds, || {
                creds.text(&format!(
                    "New tokens for hotel {id}; the old ones no longer work."
                ))
            })
        }
        HotelCommand::Set {
            hotel_id: raw,
            name,
            timezone: tz,
            sync_paid_orders,
            escalate_after,
            merge_window,
            shift_ends,
            archive_after,
        } => {
            let id = hotel_id(&raw)?;
            let duration = |flag: &str, raw: Option<String>, max: u32| {
                raw.as_deref()
                    .map(|raw| {
                        parse_setting_duration_max(raw, max)
                            .map(|s| s.unwrap_or(0))
                            .map_err(|e| anyhow::anyhow!("--{flag} {e}"))
                    })
                    .transpose()
            };
            let escalate_after_secs = duration("escalate-after", escalate_after, WEEK_SECS)?;
            let merge_window_secs = duration("merge-window", merge_window, WEEK_SECS)?;
            let archive_after_secs =
                duration("archive-after", archive_after, ARCHIVE_AFTER_MAX_SECS)?;
            let shift_ends = shift_ends
                .as_deref()
                .map(|raw| {
                    parse_shift_ends(raw)
                        .map(|e| format_shift_ends(&e))
                        .map_err(|e| anyhow::anyhow!("--shift-ends {e}"))
                })
                .transpose()?;
            let settings = HotelSettings {
                name: name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
                timezone: tz.as_deref().map(timezone).transpose()?,
                sync_paid_orders,
                escalate_after_secs,
                merge_window_secs,
                shift_ends,
                archive_after_secs,
            };
            store
                .update_hotel(&id, settings)
                .await
                .map_err(not_found(&id))?;
            let hotels = store.list_hotels().await?;
            let hotel = hotels.iter().find(|h| h.hotel_id == id.as_str());
            ctx.print(&hotel, || format!("Hotel {id} updated."))
        }
    }
}
