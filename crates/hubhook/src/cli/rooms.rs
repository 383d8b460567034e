//! `hubhook rooms add|import|list`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use super::{Ctx, hotel_id, not_found};
use crate::{
    domain::{RoomNumber, rooms_csv},
    store::Room,
};

#[derive(Debug, Subcommand)]
pub enum RoomsCommand {
    /// Register rooms by number
    Add {
        hotel_id: String,
        #[arg(required = true)]
        rooms: Vec<String>,
    },
    /// Register rooms from a CSV file with a header row: column "room", optional "floor"
    Import { hotel_id: String, file: PathBuf },
    /// List a hotel's rooms
    List { hotel_id: String },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Added {
    hotel_id: String,
    added: u64,
    rooms: usize,
}

pub async fn run(ctx: &Ctx, cmd: RoomsCommand) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    match cmd {
        RoomsCommand::Add { hotel_id: h, rooms } => {
            let id = hotel_id(&h)?;
            let rooms = rooms
                .iter()
                .map(|r| {
                    RoomNumber::parse(r)
                        .map(|n| Room {
                            room: n.into_string(),
                            floor: None,
                        })
                        .with_context(|| format!("invalid room {r:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            add(ctx, &id, rooms, &*store).await
        }
        RoomsCommand::Import { hotel_id: h, file } => {
            let id = hotel_id(&h)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let rooms = parse_csv(&text).with_context(|| format!("in {}", file.display()))?;
            add(ctx, &id, rooms, &*store).await
        }
        RoomsCommand::List { hotel_id: h } => {
            let id = hotel_id(&h)?;
            let rooms = store.list_rooms(&id).await.map_err(not_found(&id))?;
            ctx.print(&rooms, || {
                let mut out = format!("{:<12} FLOOR", "ROOM");
                for r in &rooms {
                    out.push_str(&format!(
                        "\n{:<12} {}",
                        r.room,
                        r.floor.as_deref().unwrap_or("")
                    ));
                }
                out
            })
        }
    }
}

async fn add(
    ctx: &Ctx,
    id: &crate::domain::HotelId,
    rooms: Vec<Room>,
    store: &dyn crate::store::Store,
) -> anyhow::Result<()> {
    let count = rooms.len();
    let added = store.add_rooms(id, rooms).await.map_err(not_found(id))?;
    let result = Added {
        hotel_id: id.to_string(),
        added,
        rooms: count,
    };
    ctx.print(&result, || {
        format!(
            "{added} room(s) added to hotel {id} ({} already registered).",
            count as u64 - added
        )
    })
}

/// Reads `room[,floor]` rows under a header row (see [`crate::domain::rooms_csv`]).
pub fn parse_csv(text: &str) -> anyhow::Result<Vec<Room>> {
    Ok(rooms_csv::parse(text)?
        .into_iter()
        .map(|row| Room {
            room: row.room.into_string(),
            floor: row.floor,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rooms_and_floors() {
        let rooms = parse_csv("floor,room\n1,101\n\n2,\"Suite, 2\"\n,300\n").unwrap();
        assert_eq!(rooms.len(), 3);
        assert_eq!(
            rooms[0],
            Room {
                room: "101".into(),
                floor: Some("1".into())
            }
        );
        assert_eq!(rooms[1].room, "Suite, 2");
        assert_eq!(rooms[2].floor, None);
    }

    #[test]
    fn errors_name_the_line() {
        assert!(parse_csv("").is_err());
        assert!(parse_csv("number\n1\n").is_err());
        let e = parse_csv("room\n101\n\"unclosed\n").unwrap_err();
        assert!(format!("{e:#}").contains("line 3"), "{e:#}");
        let e = parse_csv("room,floor\n,1\n").unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
    }
}
