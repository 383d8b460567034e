//! The first run: the real binary on an empty database prints a one-time setup link; `/setup`
//! creates the hotel, its rooms and its manager, shows the Duve header values and sends a test
//! order that lands on the board. The token is refused when wrong, missing or used, and `/setup` is
//! gone once any hotel exists (made there or by the CLI), whatever the token.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use fantoccini::Locator;

use crate::{
    helpers::{Hotel, database_url, order},
    secrets::{Server, post_webhook},
    ui_browser::{Browser, ONE_BROWSER},
    ui_support::{UiClient, csrf_of},
};

pub const MANAGER: &str = "owner@first.test";
pub const MANAGER_PASSWORD: &str = "a long first password";

/// `hubhook serve` on `dir`'s database, healthy; with the setup link it printed on stderr, if any.
pub async fn start(dir: &Path) -> (Server, Option<String>) {
    let mut server = Server::start(dir, &[], &[]);
    let client = hubhook::http_client().build().expect("client");
    server.wait_healthy(&client).await;
    // The link is printed before the server answers its first request.
    let err = server.stderr_text();
    let links: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("  http://"))
        .map(str::trim)
        .collect();
    assert!(links.len() <= 1, "the link is printed once: {err}");
    let link = links.first().map(|l| (*l).to_owned());
    if let Some(link) = &link {
        assert!(
            link.starts_with(&format!("{}/setup?token=", server.base)),
            "{link}"
        );
        // Once as a plain line, once in the log line at info, and nowhere else.
        assert_eq!(err.matches(link.as_str()).count(), 2, "{err}");
        assert!(
            err.lines()
                .any(|l| l.contains("INFO") && l.contains(link.as_str())),
            "{err}"
        );
    }
    (server, link)
}

/// The part of the link after the server's address.
fn path_of(server: &Server, link: &str) -> String {
    link.strip_prefix(&server.base)
        .expect("same server")
        .to_owned()
}

/// The `value` of the input with this id.
pub fn value_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let marker = "value=\"";
    let start = html[at..].find(marker).expect("a value") + at + marker.len();
    let end = html[start..].find('"').expect("end of value") + start;
    html[start..end].to_owned()
}

/// The setup form's fields with the token and CSRF value of `form_page`, and these rooms.
fn fields<'a>(
    token: &'a str,
    csrf: &'a str,
    rooms: &'a str,
    csv: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("token", token),
        ("csrf", csrf),
        ("name", "First Hotel"),
        ("timezone", "Europe/Lisbon"),
        ("rooms", rooms),
        ("rooms_csv", csv),
        ("email", MANAGER),
        ("password", MANAGER_PASSWORD),
    ]
}

fn token_of(link: &str) -> String {
    link.split_once("token=").expect("a token").1.to_owned()
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(args)
        .env("HUBHOOK_DATABASE_URL", database_url(&dir.join("x.db")))
        .env_remove("HUBHOOK_CONFIG")
        .output()
        .expect("hubhook runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_setup_link_creates_the_hotel_and_its_test_order_lands_on_the_board() {
    let dir = tempfile::tempdir().expect("dir");
    let (server, link) = start(dir.path()).await;
    let link = link.expect("a first start prints the setup link");
    let token = token_of(&link);
    let mut c = UiClient::at(&server.base);

    // Nothing else opens it.
    assert_eq!(c.get("/setup").await.status, 404);
    assert_eq!(c.get("/setup?token=").await.status, 404);
    let wrong = format!("/setup?token={}x", token);
    assert_eq!(c.get(&wrong).await.status, 404);
    assert_eq!(c.get("/login").await.status, 200);

    let form = c.get(&path_of(&server, &link)).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = csrf_of(&form.body);
    // A form without its cookie's value, or with a wrong token, is refused, and the link still works.
    let mut other = UiClient::at(&server.base);
    let res = other
        .post("/setup", &fields(&token, &csrf, "101", ""))
        .await;
    assert_eq!(res.status, 403, "{}", res.body);
    let res = c
        .post("/setup", &fields("hhsu_wrong", &csrf, "101", ""))
        .await;
    assert_eq!(res.status, 404, "{}", res.body);
    // A mistake shows the form again, with the reason.
    let mut bad = fields(&token, &csrf, "101", "");
    bad[3] = ("timezone", "Mars/Olympus");
    let res = c.post("/setup", &bad).await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("Unknown timezone"), "{}", res.body);
    let csrf = csrf_of(&res.body);

    let csv = "room,floor\n301,3\n302,3\n";
    let done = c
        .post("/setup", &fields(&token, &csrf, "101-103, 201", csv))
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let hotel = Hotel {
        id: value_of(&done.body, "custom_hotel_id"),
        access: value_of(&done.body, "custom_access_token"),
        password: value_of(&done.body, "custom_password_token"),
    };
    assert!(hotel.id.starts_with("htl_"), "{}", hotel.id);
    assert!(hotel.access.starts_with("hhat_") && hotel.password.starts_with("hhpt_"));
    assert!(done.body.contains("data-copy=\"custom_access_token\""));
    // The manager is signed in.
    assert_eq!(c.get("/board").await.status, 200);

    // Used: the link, and the form, are gone.
    assert_eq!(c.get(&path_of(&server, &link)).await.status, 404);
    let again = c.post("/setup", &fields(&token, &csrf, "101", "")).await;
    assert_eq!(again.status, 404, "{}", again.body);

    // The rooms, typed and from the CSV, with the CSV's floors.
    let rooms = cli(dir.path(), &["rooms", "list", &hotel.id]);
    for room in ["101", "102", "103", "201", "301", "302"] {
        assert!(
            rooms.lines().any(|l| l.starts_with(room)),
            "{room}: {rooms}"
        );
    }
    assert!(
        rooms
            .lines()
            .any(|l| l.starts_with("301") && l.ends_with('3'))
    );
    let hotels = cli(dir.path(), &["hotel", "list"]);
    assert!(
        hotels.contains("First Hotel") && hotels.contains("Europe/Lisbon"),
        "{hotels}"
    );

    // The test order: through the webhook path, onto the board.
    let csrf = csrf_of(&done.body);
    let sent = c
        .post(
            "/setup/test-order",
            &[
                ("csrf", &csrf),
                ("hotel_id", &hotel.id),
                ("access_token", &hotel.access),
                ("password_token", &hotel.password),
                ("room", "101"),
            ],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(
        sent.body.contains("Test order received (201 created)"),
        "{}",
        sent.body
    );
    let board = c.get("/board").await;
    assert!(
        board.body.contains("Serve towels") && board.body.contains("101"),
        "{}",
        board.body
    );
    // A wrong token in that form is the webhook's refusal, shown as such.
    let refused = c
        .post(
            "/setup/test-order",
            &[
                ("csrf", &csrf),
                ("hotel_id", &hotel.id),
                ("access_token", "hhat_wrong"),
                ("password_token", &hotel.password),
                ("room", "101"),
            ],
        )
        .await;
    assert!(
        refused.body.contains("WEB_HUK_INVALID_CREDS"),
        "{}",
        refused.body
    );

    // The header values are Duve's, and the manager's password signs in.
    let client = hubhook::http_client().build().expect("client");
    let (s, body) = post_webhook(&client, &server, &hotel, &order("duve-1", "201", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let mut fresh = UiClient::at(&server.base);
    assert_eq!(fresh.login(MANAGER, MANAGER_PASSWORD).await.status, 303);

    // A restart with a hotel prints no link, and the old one stays refused; the token reached
    // no log line but the one that announced it.
    let logs = server.stop().await;
    assert_eq!(logs.matches(token.as_str()).count(), 2, "{logs}");
    let (server, link) = start(dir.path()).await;
    assert_eq!(link, None);
    let mut c = UiClient::at(&server.base);
    assert_eq!(c.get(&format!("/setup?token={token}")).await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn each_start_makes_a_new_token_and_a_hotel_from_the_cli_closes_setup() {
    let dir = tempfile::tempdir().expect("dir");
    let (server, first) = start(dir.path()).await;
    let first = first.expect("a link");
    server.stop().await;
    let (server, second) = start(dir.path()).await;
    let second = second.expect("a link again: still no hotel");
    assert_ne!(token_of(&first), token_of(&second));
    let mut c = UiClient::at(&server.base);
    let old = format!("/setup?token={}", token_of(&first));
    assert_eq!(c.get(&old).await.status, 404);
    let form = c.get(&path_of(&server, &second)).await;
    assert_eq!(form.status, 200);
    let csrf = csrf_of(&form.body);

    // A hotel made by the command line while the server runs: /setup is gone, even for the form.
    cli(dir.path(), &["hotel", "create", "--name", "By the CLI"]);
    assert_eq!(c.get(&path_of(&server, &second)).await.status, 404);
    let token = token_of(&second);
    let res = c.post("/setup", &fields(&token, &csrf, "101", "")).await;
    assert_eq!(res.status, 404, "{}", res.body);
    let hotels = cli(dir.path(), &["hotel", "list"]);
    assert!(!hotels.contains("First Hotel"), "{hotels}");
    server.stop().await;
}

/// Waits until `f` is true (a page's state that a script changes).
pub async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_new_user_sets_up_in_the_browser_and_sees_the_test_order_on_the_board() {
    let _one = ONE_BROWSER.lock().await;
    let dir = tempfile::tempdir().expect("dir");
    let (server, link) = start(dir.path()).await;
    let link = link.expect("a setup link");
    let Some(browser) = Browser::start(1280, 900).await else {
        server.stop().await;
        return;
    };
    let b = &browser.client;
    b.goto(&link).await.expect("open the setup link");
    let fill = async |name: &str, text: &str| {
        let field = b
            .find(Locator::Css(&format!("[name={name}]")))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    };
    fill("name", "Browser Hotel").await;
    fill("timezone", "Europe/Lisbon").await;
    fill("rooms", "101-105, 201").await;
    fill("email", MANAGER).await;
    fill("password", MANAGER_PASSWORD).await;
    b.find(Locator::Css("#setup button[type=submit]"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");
    let hotel_id = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("custom_hotel_id"))
        .await
        .expect("the header values")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(hotel_id.starts_with("htl_"), "{hotel_id}");
    for id in ["custom_access_token", "custom_password_token"] {
        let v = b
            .find(Locator::Id(id))
            .await
            .expect(id)
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default();
        assert!(v.starts_with("hh"), "{id}: {v}");
    }
    // A copy button selects its value and says so.
    let copy = b
        .find(Locator::Css("button[data-copy=custom_access_token]"))
        .await
        .expect("copy button");
    copy.click().await.expect("click copy");
    until("the copy button says Copied", async || {
        copy.text().await.unwrap_or_default() == "Copied"
    })
    .await;
    browser_screenshot(&browser, "setup.png").await;

    b.find(Locator::Id("test-order"))
        .await
        .expect("test order button")
        .click()
        .await
        .expect("click");
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("to-board"))
        .await
        .expect("the test order's notice")
        .click()
        .await
        .expect("to the board");
    // The live board may redraw its cards meanwhile: each look finds the card again.
    until("the test order's card is on the board", async || {
        match b.find(Locator::Css("[data-task-id]")).await {
            Ok(card) => card
                .text()
                .await
                .is_ok_and(|t| t.contains("Serve towels") && t.contains("101")),
            Err(_) => false,
        }
    })
    .await;
    browser.close().await;
    server.stop().await;
}

async fn browser_screenshot(browser: &Browser, name: &str) {
    let png = browser.client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(name), png).expect("write screenshot");
}
