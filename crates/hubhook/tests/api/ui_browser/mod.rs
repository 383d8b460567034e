//! The board in a real browser: Debian's headless Chromium driven through WebDriver (chromedriver,
//! started by the test on a free port). Without chromedriver these tests print SKIPPED and pass,
//! unless HUBHOOK_REQUIRE_BROWSER=1 (as .ci/run sets), where they fail. Here: the browser
//! (`Browser`, `ONE_BROWSER`), shared by the modules below and the other browser tests.

mod board;
mod manager;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::{helpers::TestApp, ui_support::PASSWORD};

/// One browser at a time: two cores do not run several Chromiums and the server well.
pub(crate) static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CHROME_FLAGS: [&str; 6] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn chromedriver_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMEDRIVER") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromedriver"))
            .find(|p| p.is_file())
    })
}

/// chromedriver plus one browser session; the driver process is ended when this is dropped.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// None (after printing SKIPPED) when chromedriver is missing and a browser is not required.
    pub(crate) async fn start(width: u32, height: u32) -> Option<Self> {
        let Some(driver_bin) = chromedriver_path() else {
            let required = std::env::var("HUBHOOK_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "HUBHOOK_REQUIRE_BROWSER=1 but chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "SKIPPED: browser test (chromedriver not found; apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_bin.display()));
        let url = format!("http://127.0.0.1:{port}");
        let mut args: Vec<String> = CHROME_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--window-size={width},{height}"));
        let mut options = json!({ "args": args });
        // Desktop windows have a minimum width (500 px in headless Chromium): a phone's viewport
        // is emulated instead.
        if width < 500 {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1}});
        }
        if std::path::Path::new("/usr/bin/chromium").is_file() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut browser_driver = Some(driver);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    if let Some(mut d) = browser_driver.take() {
                        let _ = d.kill();
                        let _ = d.wait();
                    }
                    panic!("no WebDriver session: {e}");
                }
            }
        };
        Some(Browser {
            client,
            driver: browser_driver.take().expect("driver"),
        })
    }

    pub(crate) async fn login(&self, app: &TestApp, email: &str) {
        let c = &self.client;
        c.goto(&app.url("/login")).await.expect("goto login");
        c.find(Locator::Css("input[name=email]"))
            .await
            .expect("email field")
            .send_keys(email)
            .await
            .expect("type email");
        c.find(Locator::Css("input[name=password]"))
            .await
            .expect("password field")
            .send_keys(PASSWORD)
            .await
            .expect("type password");
        c.find(Locator::Css("form.login button[type=submit]"))
            .await
            .expect("submit")
            .click()
            .await
            .expect("click");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = c.current_url().await.expect("url");
            if url.path() == "/board" {
                return;
            }
            assert!(Instant::now() < deadline, "not signed in: still at {url}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to `secs`) until the board says its live connection is open.
    pub(crate) async fn wait_live(&self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self
                .client
                .find(Locator::Id("live-status"))
                .await
                .expect("live status")
                .text()
                .await
                .unwrap_or_default();
            if text == "Live" {
                return;
            }
            assert!(Instant::now() < deadline, "no live connection: {text:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn attr_of(&self, css: &str, attr: &str) -> Option<String> {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.attr(attr).await.ok().flatten(),
            Err(_) => None,
        }
    }

    /// Every run takes the screenshots (so CI proves the pages render); they land in
    /// `docs/screenshots/` only with HUBHOOK_UPDATE_SCREENSHOTS=1 (an intended change to the pages),
    /// so ordinary runs leave the working tree as it was.
    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = if std::env::var("HUBHOOK_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
        } else {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
        };
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }

    pub(crate) async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
