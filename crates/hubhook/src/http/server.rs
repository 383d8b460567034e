//! The accept loop: one hyper HTTP/1 connection per client, with limits a hostile client cannot
//! stretch (a deadline for the headers and one for the body, a bounded request head, a cap on
//! connections), and the first half of a graceful shutdown: stop accepting, let the requests in
//! flight finish, drop what is left after the bound.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::Request,
    response::{IntoResponse, Response},
    routing::future::RouteFuture,
};
use http_body::{Frame, SizeHint};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinSet,
    time::{Instant, Sleep},
};

use super::error::EdgeError;
use crate::config::HttpLimits;

/// The largest request head (request line and headers) read; a larger one is answered 431 and the
/// connection closed. Duve's deliveries carry a few hundred bytes of headers.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// More headers than this is answered 431 (hyper's default, kept because raising it moves the
/// header array from the stack to the heap for every request).
pub const MAX_HEADERS: usize = 100;

/// What the connections did once the shutdown began.
#[derive(Debug)]
pub struct Drained {
    /// When the shutdown signal arrived: the bound counts from here.
    pub began: Instant,
    /// Open when the shutdown began (requests in flight, idle keep-alive, live streams, slow
    /// clients).
    pub open: usize,
    /// Of those, closed cleanly within the bound.
    pub closed: usize,
    /// Of those, still busy at the bound and dropped: their requests got no answer.
    pub dropped: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains the connections (see
/// [`Drained`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    let http = Arc::new(http);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections: JoinSet<()> = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let next = async {
            // A connection over the cap waits in the kernel's backlog, not in our memory.
            let permit = permits.clone().acquire_owned().await;
            (permit, listener.accept().await)
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            (permit, accepted) = next => {
                let Ok(permit) = permit else { break };
                match accepted {
                    Ok((stream, peer)) => {
                        let conn = Connection {
                            router: router.clone(),
                            peer,
                            body_timeout: limits.body_timeout,
                            timed_out: Arc::new(AtomicBool::new(false)),
                        };
                        connections.spawn(run_connection(
                            http.clone(),
                            stream,
                            conn,
                            closing_rx.clone(),
                            permit,
                        ));
                    }
                    Err(e) => accept_failed(e).await,
                }
            }
        }
    }
    let began = Instant::now();
    // Refuse new connections at once: the listener's backlog is reset, later connects are refused.
    drop(listener);
    let open = connections.len();
    tracing::info!(
        open,
        bound_secs = limits.shutdown_timeout.as_secs_f64(),
        "shutdown: stopped accepting; finishing the requests in flight"
    );
    let _ = closing.send(true);
    let mut closed = 0;
    let deadline = began + limits.shutdown_timeout;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, connections.join_next()).await {
        closed += 1;
    }
    let dropped = connections.len();
    // Dropping a connection's task drops its request: a handler stopped before its commit never
    // answered, one stopped after it loses only the answer (the client delivers again and gets a
    // duplicate).
    connections.shutdown().await;
    tracing::info!(closed, dropped, "shutdown: connections closed");
    Drained {
        began,
        open,
        closed,
        dropped,
    }
}

/// Errors such as "too many open files" are not the listener's end: wait a little, accept again.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn run_connection(
    http: Arc<http1::Builder>,
    stream: TcpStream,
    conn: Connection,
    mut closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    // Answers are written whole; without this, a response split over two writes (a stream's
    // events) could wait for the client's delayed ACK.
    let _ = stream.set_nodelay(true);
    let served = http.serve_connection(TokioIo::new(stream), conn);
    tokio::pin!(served);
    let result = tokio::select! {
        r = served.as_mut() => r,
        _ = async { closing.wait_for(|c| *c).await.is_ok() } => {
            // Idle: closed now. Busy: the request in flight is answered, then the connection
            // closes instead of waiting for another.
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = result {
        // Slow, broken or hostile clients: worth a debug line, not a warning.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// One connection's service: hands each request to the router with the client's address (the
/// login limits use it) and a body that must arrive by a deadline.
#[derive(Clone)]
struct Connection {
    router: Router,
    peer: SocketAddr,
    body_timeout: Duration,
    /// Set by the request's body when its deadline passed (HTTP/1: one request at a time).
    timed_out: Arc<AtomicBool>,
}

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.timed_out.store(false, Ordering::Relaxed);
        let deadline = Instant::now() + self.body_timeout;
        let mut req = req.map(|body| {
            Body::new(DeadlineBody {
                inner: body,
                deadline,
                limit: self.body_timeout,
                sleep: None,
                timed_out: self.timed_out.clone(),
            })
        });
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let mut router = self.router.clone();
        Answer {
            inner: tower_service::Service::call(&mut router, req),
            timed_out: self.timed_out.clone(),
            limit: self.body_timeout,
        }
    }
}

/// The router's answer, replaced by 408 if the request's body came too late: whatever a handler
/// made of a body cut short (a parse error, a bad form), the client is told what happened.
pub struct Answer {
    inner: RouteFuture<Infallible>,
    timed_out: Arc<AtomicBool>,
    limit: Duration,
}

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let res = ready!(Pin::new(&mut self.inner).poll(cx));
        if self.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(
                EdgeError::BodyTimeout { limit: self.limit }.into_response()
            ));
        }
        Poll::Ready(res)
    }
}

/// A request body that fails with [`EdgeError::BodyTimeout`] once its deadline passed. The timer
/// is only made when the body is not already there (the common case costs nothing).
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    limit: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        this.timed_out.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(Box::new(EdgeError::BodyTimeout {
            limit: this.limit,
        }))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
