//! The domain: hotels, rooms, the service catalog, tasks and their status machine. No I/O, no HTTP, no SQL.

pub mod catalog;
pub mod hotel;
pub mod ids;
pub mod password;
pub mod secret;
pub mod task;
pub mod time;

pub use catalog::{CatalogEntry, default_catalog};
pub use hotel::{HotelFacts, Role, RoomSet};
pub use ids::{ExternalId, HotelId, IdError, RoomNumber, TaskId};
pub use task::{Task, TaskEvent, TaskStatus, TransitionError};
