//! A bare TCP receiver for outbound deliveries that counts every connection it accepts, on
//! `127.0.0.1:P` and, when the host has IPv6, `[::1]:P` (so `http://0.0.0.0:P/` and
//! `http://[::]:P/`, which reach loopback, would be counted too). It answers each request 200, or
//! never answers (an endpoint that hangs).

#![allow(dead_code)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `200 OK` to each request.
    Ok,
    /// Reads the request and never answers (the connection stays open).
    Hang,
}

/// What one address family's listener saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: AtomicUsize,
    first_request: std::sync::Mutex<Option<Instant>>,
}

/// The listeners (aborted when dropped) and what they saw.
pub struct RawReceiver {
    /// The port of both listeners.
    pub port: u16,
    v4: Arc<Seen>,
    v6: Arc<Seen>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RawReceiver {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl RawReceiver {
    /// Listens on a fresh port, answering as `answer` says.
    pub async fn start(answer: Answer) -> Self {
        let v4 = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let port = v4.local_addr().expect("port").port();
        let (seen4, seen6) = (Arc::new(Seen::default()), Arc::new(Seen::default()));
        let mut tasks = vec![tokio::spawn(accept(v4, seen4.clone(), answer))];
        // Without IPv6 nothing can connect to [::1] either.
        if let Ok(v6) = TcpListener::bind(("::1", port)).await {
            tasks.push(tokio::spawn(accept(v6, seen6.clone(), answer)));
        }
        Self {
            port,
            v4: seen4,
            v6: seen6,
            tasks,
        }
    }

    /// `http://HOST:PORT/hook` with `host` as written (`127.0.0.1`, `[::1]`, `localhost` ...).
    pub fn url(&self, host: &str) -> String {
        format!("http://{host}:{}/hook", self.port)
    }

    /// Connections accepted on 127.0.0.1 and on ::1, together.
    pub fn connections(&self) -> usize {
        self.v4_connections() + self.v6.connections.load(Ordering::SeqCst)
    }

    /// Connections accepted on 127.0.0.1.
    pub fn v4_connections(&self) -> usize {
        self.v4.connections.load(Ordering::SeqCst)
    }

    /// Connections accepted on ::1.
    pub fn v6_connections(&self) -> usize {
        self.v6.connections.load(Ordering::SeqCst)
    }

    /// Requests whose headers arrived, on either address.
    pub fn requests(&self) -> usize {
        self.v4.requests.load(Ordering::SeqCst) + self.v6.requests.load(Ordering::SeqCst)
    }

    /// When the first request's headers arrived, on either address.
    pub fn first_request(&self) -> Option<Instant> {
        let a = *self.v4.first_request.lock().expect("lock");
        let b = *self.v6.first_request.lock().expect("lock");
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

async fn accept(listener: TcpListener, seen: Arc<Seen>, answer: Answer) {
    while let Ok((stream, _)) = listener.accept().await {
        seen.connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(serve(stream, seen.clone(), answer));
    }
}

/// Reads requests (headers, then `content-length` bytes of body) and answers each as told.
async fn serve(mut stream: TcpStream, seen: Arc<Seen>, answer: Answer) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(head_end) = find(&buf, b"\r\n\r\n") else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        seen.requests.fetch_add(1, Ordering::SeqCst);
        seen.first_request
            .lock()
            .expect("lock")
            .get_or_insert_with(Instant::now);
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + 4 + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + 4 + length);
        match answer {
            Answer::Ok => {
                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if stream.write_all(ok).await.is_err() {
                    return;
                }
            }
            Answer::Hang => {
                // Keep the connection open, unanswered, until the client gives up.
                let _ = stream.read(&mut chunk).await;
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
