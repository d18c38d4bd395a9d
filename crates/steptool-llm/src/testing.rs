//! A loopback HTTP server for tests (feature `testing`): real TCP on 127.0.0.1, one request
//! per connection (`Connection: close`), replies taken from a script in order. It serves at
//! most as many connections as the script has replies and stops by itself after a deadline,
//! so a test that misbehaves cannot hang.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

/// How long a server waits for its script's connections before it stops.
const DEADLINE: Duration = Duration::from_secs(20);

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, extra headers, JSON body.
    Json(u16, Vec<(String, String)>, String),
    /// 200 with a `text/plain` body echoing the request line and headers (as some debugging
    /// proxies do), `Authorization` included.
    EchoHeaders,
    /// 200 with a chat-completions body calling the named function with `arguments` (not
    /// JSON) that echo the request line and headers.
    EchoHeadersInToolCall(String),
    /// 200 with a chat-completions body whose message `content` echoes the request headers.
    EchoHeadersInContent,
    /// Sleep, then answer.
    Slow(Duration, Box<Reply>),
}

impl Reply {
    /// 200 with a JSON body.
    pub fn ok(body: impl Into<String>) -> Self {
        Self::Json(200, vec![], body.into())
    }

    /// A status with a small JSON error body.
    pub fn status(code: u16) -> Self {
        Self::Json(
            code,
            vec![],
            json!({"error": {"message": format!("status {code}")}}).to_string(),
        )
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request line and headers.
    pub head: String,
    /// The body.
    pub body: String,
}

impl Received {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// The server (see the module docs).
#[derive(Debug)]
pub struct LoopbackServer {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    max_in_flight: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    /// Start a server answering `script` in order, one connection per reply.
    pub fn start(script: Vec<Reply>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let handle = {
            let (received, max_in_flight) = (received.clone(), max_in_flight.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + DEADLINE;
                let mut workers = Vec::new();
                for reply in script {
                    let stream = loop {
                        match listener.accept() {
                            Ok((s, _)) => break Some(s),
                            Err(_) if Instant::now() < deadline => {
                                std::thread::sleep(Duration::from_millis(2))
                            }
                            Err(_) => break None,
                        }
                    };
                    let Some(stream) = stream else { break };
                    let (received, in_flight, max_in_flight) =
                        (received.clone(), in_flight.clone(), max_in_flight.clone());
                    workers.push(std::thread::spawn(move || {
                        let _ = serve(stream, reply, &received, &in_flight, &max_in_flight);
                    }));
                }
                for w in workers {
                    let _ = w.join();
                }
            })
        };
        Ok(Self {
            url: format!("http://{addr}/v1"),
            received,
            max_in_flight,
            handle: Some(handle),
        })
    }

    /// The base URL (`http://127.0.0.1:<port>/v1`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Most requests handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Wait until the script is served (or the deadline passed); the requests received.
    pub fn finish(mut self) -> Vec<Received> {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.requests()
    }
}

/// Serve one connection. A request counts as in flight from the end of its body until just
/// before its reply is written (a client cannot send its next request before it has read the
/// reply, so this never over-counts a client that keeps its own limit).
fn serve(
    mut stream: std::net::TcpStream,
    mut reply: Reply,
    received: &Mutex<Vec<Received>>,
    in_flight: &AtomicUsize,
    max_in_flight: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body) = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break split(&buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        let (head, body) = split(&buf);
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().unwrap_or(0))
            })
            .unwrap_or(0);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") && body.len() >= len {
            break (head, body);
        }
    };
    if let Ok(mut r) = received.lock() {
        r.push(Received {
            head: head.clone(),
            body,
        });
    }
    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    max_in_flight.fetch_max(now, Ordering::SeqCst);
    while let Reply::Slow(delay, inner) = reply {
        std::thread::sleep(delay);
        reply = *inner;
    }
    in_flight.fetch_sub(1, Ordering::SeqCst);
    respond(&mut stream, reply, &head)
}

fn split(buf: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(buf);
    match text.split_once("\r\n\r\n") {
        Some((h, b)) => (h.to_owned(), b.to_owned()),
        None => (text.into_owned(), String::new()),
    }
}

fn tool_call(function: &str, arguments: &str, content: &str) -> String {
    json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content,
        "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": function, "arguments": arguments}}]}}]})
    .to_string()
}

fn respond(stream: &mut std::net::TcpStream, reply: Reply, head: &str) -> std::io::Result<()> {
    let (status, headers, content_type, body) = match reply {
        Reply::Slow(_, inner) => return respond(stream, *inner, head),
        Reply::Json(status, headers, body) => (status, headers, "application/json", body),
        Reply::EchoHeaders => (
            200,
            vec![],
            "text/plain",
            format!("You sent:\r\n{head}\r\n"),
        ),
        Reply::EchoHeadersInToolCall(function) => (
            200,
            vec![],
            "application/json",
            tool_call(&function, &format!("You sent: {head}"), ""),
        ),
        Reply::EchoHeadersInContent => (
            200,
            vec![],
            "application/json",
            tool_call("echo", "{}", &format!("You sent: {head}")),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    // The client may have given up (timeout): ignore write errors.
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
    Ok(())
}
