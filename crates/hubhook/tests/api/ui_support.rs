//! Helpers for the web page tests: accounts, and a cookie-keeping client that does not follow
//! redirects (so tests see the 303s, the cookies and their attributes as a browser would get them).

#![allow(dead_code)]

use std::collections::BTreeMap;

use hubhook::{
    domain::{HotelId, Role, password},
    store::NewUser,
};
use reqwest::{StatusCode, header::HeaderMap, redirect::Policy};

use crate::helpers::{Hotel, TestApp};

pub const PASSWORD: &str = "correct horse battery staple";

/// Creates an account the way `hubhook user add` does (argon2id hash in the store).
pub async fn add_user(app: &TestApp, hotel: &Hotel, email: &str, role: Role) {
    let hash = password::hash(PASSWORD).expect("hash");
    app.store
        .create_user(NewUser {
            id: format!("usr_{}", email.replace(['@', '.'], "_")),
            hotel: HotelId::parse(&hotel.id).expect("hotel id"),
            email: email.to_owned(),
            role,
            department: None,
            password_hash: hash,
        })
        .await
        .expect("create user");
}

/// `application/x-www-form-urlencoded`, as a browser encodes a form.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The first hidden `csrf` field of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf field in {html}"))
        + marker.len();
    let end = html[start..].find('"').expect("end of value") + start;
    html[start..end].to_owned()
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    /// The raw `Set-Cookie` line for `name`, if the answer set it.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub struct UiClient {
    pub base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub extra_headers: Vec<(String, String)>,
}

impl UiClient {
    pub fn new(app: &TestApp) -> Self {
        Self::at(&app.address)
    }

    /// A client of the server at `base` (`http://127.0.0.1:PORT`), e.g. a `hubhook serve` child.
    pub fn at(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
            extra_headers: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let mut req = req.header("cookie", self.cookie_header());
        for (k, v) in &self.extra_headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let res = req.send().await.expect("request");
        for line in res.headers().get_all("set-cookie") {
            let line = line.to_str().expect("ascii cookie");
            let first = line.split(';').next().unwrap_or("");
            let (k, v) = first.split_once('=').expect("name=value");
            if v.is_empty() || line.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Page {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.expect("body"),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields));
        self.send(req).await
    }

    /// Fills and sends the login form; returns the answer to the POST.
    pub async fn login(&mut self, email: &str, password: &str) -> Page {
        let page = self.get("/login").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = csrf_of(&page.body);
        self.post(
            "/login",
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await
    }

    /// A client signed in as `email` (with [`PASSWORD`]).
    pub async fn signed_in(app: &TestApp, email: &str) -> Self {
        Self::signed_in_with(app, email, PASSWORD).await
    }

    /// A client signed in as `email` with `password`.
    pub async fn signed_in_with(app: &TestApp, email: &str, password: &str) -> Self {
        let mut c = Self::new(app);
        let res = c.login(email, password).await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert_eq!(res.location(), Some("/board"));
        c
    }

    /// The session's CSRF token, read from a page as a browser would have it.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/board").await;
        assert_eq!(page.status, 200, "{}", page.body);
        csrf_of(&page.body)
    }
}
