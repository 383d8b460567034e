//! The domain: hotels, rooms, the service catalog, tasks and their status machine, the outbound
//! rules (events, deliveries, retries). No I/O, no HTTP, no SQL.

pub mod account;
pub mod archive;
pub mod assignment;
pub mod board;
pub mod catalog;
pub mod escalation;
pub mod formats;
pub mod hotel;
pub mod ids;
pub mod outbound;
pub mod password;
pub mod report;
pub mod retention;
pub mod room_list;
pub mod rooms_csv;
pub mod secret;
pub mod task;
pub mod time;

pub use catalog::{CatalogEntry, default_catalog};
pub use hotel::{HotelFacts, Role, RoomSet};
pub use ids::{ExternalId, HotelId, IdError, RoomNumber, TaskId};
pub use task::{Task, TaskEvent, TaskStatus, TransitionError};
