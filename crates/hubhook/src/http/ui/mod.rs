//! The web pages: login, the staff board (live through server-sent events), a task's page, the
//! dashboard, one's own account and the manager pages (outbound webhooks and their deliveries in
//! `webhooks`, accounts in `users`, the shift report in `reports`). Server-rendered HTML (maud);
//! one small vendored script.
//!
//! Every page is scoped to the signed-in user's hotel; manager pages answer 403 to staff, for a
//! GET as for a crafted POST. Forms carry a CSRF token tied to the session (see `session`).

use std::sync::Arc;

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use jiff::{Timestamp, tz::TimeZone};
use maud::{DOCTYPE, Markup, html};

use super::AppState;
use crate::domain::{HotelId, Role, time};

mod board;
mod body;
mod dashboard;
mod deliveries;
mod dry_run;
mod feed;
mod inbound;
mod manage;
mod reports;
pub mod session;
pub mod setup;
pub mod streams;
mod task_page;
mod users;
mod webhooks;

pub use session::{UiState, Viewer};
pub use streams::Streams;

const APP_CSS: &str = include_str!("../../../static/app.css");
const BOARD_JS: &str = include_str!("../../../static/board.js");

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/board") }))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/setup", get(setup::setup_page).post(setup::create))
        .route("/setup/test-order", post(setup::send_test_order))
        .route("/board", get(board::board))
        .route("/board/cards", get(board::cards))
        .route("/board/events", get(feed::events))
        .route("/board/tasks/{id}", post(board::act))
        .route("/board/tasks/{id}/status", post(board::move_task))
        .route("/board/tasks/{id}/assign", post(board::assign))
        .route("/tasks/{id}", get(task_page::task_page))
        .route("/dashboard", get(dashboard::dashboard))
        .route("/reports", get(reports::reports))
        .route("/reports/shift.csv", get(reports::reports_csv))
        .route("/manage", get(|| async { Redirect::to("/manage/rooms") }))
        .route("/manage/rooms", get(manage::rooms).post(manage::add_rooms))
        .route("/manage/rooms/import", post(manage::import_rooms))
        .route(
            "/manage/catalog",
            get(manage::catalog).post(manage::set_catalog),
        )
        .route(
            "/manage/settings",
            get(manage::settings).post(manage::save_settings),
        )
        .route("/manage/credentials", get(manage::credentials))
        .route(
            "/manage/credentials/rotate",
            post(manage::rotate_credentials),
        )
        .route(
            "/manage/api-keys",
            get(manage::api_keys).post(manage::create_api_key),
        )
        .route("/manage/api-keys/{id}/revoke", post(manage::revoke_api_key))
        .route("/manage/inbound", get(inbound::inbound))
        .route("/manage/inbound/{id}/body", get(inbound::inbound_body))
        .route("/manage/inbound/{id}/replay", post(inbound::replay))
        .route("/manage/dry-run", get(dry_run::page).post(dry_run::submit))
        .route("/manage/users", get(users::users).post(users::add_user))
        .route("/manage/users/update", post(users::update_user))
        .route("/manage/users/disable", post(users::disable_user))
        .route("/manage/users/password", post(users::reset_password))
        .route("/manage/users/remove", post(users::remove_user))
        .route("/account", get(users::account))
        .route("/account/password", post(users::change_own_password))
        .route(
            "/manage/webhooks",
            get(webhooks::webhooks).post(webhooks::add_webhook),
        )
        .route(
            "/manage/webhooks/{id}/remove",
            post(webhooks::remove_webhook),
        )
        .route(
            "/manage/webhooks/{id}/rotate",
            post(webhooks::rotate_webhook),
        )
        .route("/manage/deliveries", get(deliveries::deliveries))
        .route("/manage/deliveries/{id}", get(deliveries::delivery))
        .route("/manage/deliveries/{id}/replay", post(deliveries::replay))
        .route("/static/app.css", get(css))
        .route("/static/board.js", get(js))
        .layer(axum::middleware::map_response(page_headers))
}

/// Headers every page carries: no inline script or style may run, no framing, no caching of pages
/// that show a hotel's data.
async fn page_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        APP_CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        BOARD_JS,
    )
}

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nav {
    Board,
    Dashboard,
    Reports,
    Rooms,
    Catalog,
    Settings,
    Credentials,
    ApiKeys,
    Inbound,
    Webhooks,
    Deliveries,
    Users,
    Account,
    None,
}

/// The frame of every signed-in page.
fn layout(viewer: &Viewer, title: &str, nav: Nav, body: Markup) -> Html<String> {
    let link = |href: &str, label: &str, this: Nav| {
        html! {
            @if nav == this { a href=(href) aria-current="page" { (label) } }
            @else { a href=(href) { (label) } }
        }
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(viewer.csrf);
                title { (title) " · hubhook" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/board.js" defer {}
            }
            body {
                header.top {
                    nav aria-label="Main" {
                        (link("/board", "Board", Nav::Board))
                        (link("/dashboard", "Dashboard", Nav::Dashboard))
                        @if viewer.user.role == Role::Manager {
                            (link("/reports", "Reports", Nav::Reports))
                            (link("/manage/rooms", "Rooms", Nav::Rooms))
                            (link("/manage/catalog", "Catalog", Nav::Catalog))
                            (link("/manage/settings", "Settings", Nav::Settings))
                            (link("/manage/credentials", "Duve credentials", Nav::Credentials))
                            (link("/manage/api-keys", "API keys", Nav::ApiKeys))
                            (link("/manage/inbound", "Inbound log", Nav::Inbound))
                            (link("/manage/webhooks", "Webhooks", Nav::Webhooks))
                            (link("/manage/deliveries", "Deliveries", Nav::Deliveries))
                            (link("/manage/users", "Users", Nav::Users))
                        }
                        (link("/account", "Your account", Nav::Account))
                    }
                    form.logout method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        span.who { (viewer.user.email) " · " (viewer.user.hotel) }
                        button type="submit" { "Sign out" }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(page.into_string())
}

/// The hotel's timezone (from the cache; UTC if the hotel vanished meanwhile).
fn hotel_tz(app: &AppState, hotel: &HotelId) -> TimeZone {
    app.cache
        .cached(hotel.as_str())
        .map(|h| h.timezone.clone())
        .unwrap_or(TimeZone::UTC)
}

/// A stored instant as the hotel reads it: `14:05` today, `23 Nov 14:05` another day.
fn local_time(raw: &str, tz: &TimeZone, now: Timestamp) -> String {
    let Some(ts) = time::parse_instant(raw) else {
        return raw.to_owned();
    };
    let z = ts.to_zoned(tz.clone());
    if z.date() == now.to_zoned(tz.clone()).date() {
        z.strftime("%H:%M").to_string()
    } else {
        z.strftime("%-d %b %H:%M").to_string()
    }
}

/// `5 min`, `2 h 10 min`, `3 d`.
fn age(since: Timestamp, now: Timestamp) -> String {
    let mins = (now.as_second() - since.as_second()).max(0) / 60;
    match mins {
        0..60 => format!("{mins} min"),
        60..1440 => format!("{} h {} min", mins / 60, mins % 60),
        _ => format!("{} d", mins / 1440),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        let t: Timestamp = "2026-01-01T10:00:00Z".parse().unwrap();
        let later = |s: i64| Timestamp::from_second(t.as_second() + s).unwrap();
        assert_eq!(age(t, later(30)), "0 min");
        assert_eq!(age(t, later(3 * 60)), "3 min");
        assert_eq!(age(t, later(130 * 60)), "2 h 10 min");
        assert_eq!(age(t, later(3 * 86400)), "3 d");
    }

    #[test]
    fn local_times_use_the_hotels_zone() {
        let tz = TimeZone::get("Europe/Lisbon").unwrap();
        let now: Timestamp = "2026-07-01T12:00:00Z".parse().unwrap();
        assert_eq!(local_time("2026-07-01T09:30:00.000Z", &tz, now), "10:30");
        assert_eq!(
            local_time("2026-06-30T09:30:00.000Z", &tz, now),
            "30 Jun 10:30"
        );
    }
}
