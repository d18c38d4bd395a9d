//! A scripted chat-completions server on 127.0.0.1 for the judge tests: real TCP, real HTTP/1.1,
//! one connection per request (`Connection: close`), replies taken from a script in order.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Status, body, extra headers.
    Http(u16, String, Vec<(String, String)>),
    /// Sleep, then answer.
    Slow(Duration, Box<Reply>),
    /// Read the request, then close the connection without answering.
    Drop,
}

impl Reply {
    /// 200 with a chat-completions body calling `evaluate_process_reward` with `arguments`.
    pub fn answer(arguments: &str) -> Self {
        Reply::Http(200, completion(arguments), vec![])
    }

    /// 200 with an arbitrary body.
    pub fn raw(body: &str) -> Self {
        Reply::Http(200, body.to_owned(), vec![])
    }

    /// An error status with a JSON error body.
    pub fn status(code: u16) -> Self {
        Reply::Http(
            code,
            json!({"error": {"message": format!("status {code}")}}).to_string(),
            vec![],
        )
    }
}

/// A chat-completions body with one tool call.
pub fn completion(arguments: &str) -> String {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "judge",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {
                "name": "evaluate_process_reward", "arguments": arguments}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    })
    .to_string()
}

/// The arguments of a valid answer.
pub fn args(succ: &[u8], contrib: &[u8], status: &str) -> String {
    json!({"succeed_tool_calling": succ, "contribution_to_final_answer": contrib, "final_answer_status": status}).to_string()
}

/// One received request.
#[derive(Clone, Debug)]
pub struct Received {
    pub authorization: Option<String>,
    pub body: Value,
}

pub struct MockServer {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    handle: Option<JoinHandle<()>>,
}

/// At most this many connections per server (a bounded loop even if a test misbehaves).
const MAX_CONNECTIONS: usize = 500;

impl MockServer {
    /// Start a server answering with `script` in order; once the script is exhausted it answers
    /// 500 "script exhausted" (which a test then sees in its request count).
    pub fn start(script: Vec<Reply>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (received, script, in_flight, max_in_flight, stop) = (
                received.clone(),
                script.clone(),
                in_flight.clone(),
                max_in_flight.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut workers = Vec::new();
                for stream in listener.incoming().take(MAX_CONNECTIONS) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (received, script, in_flight, max_in_flight) = (
                        received.clone(),
                        script.clone(),
                        in_flight.clone(),
                        max_in_flight.clone(),
                    );
                    workers.push(std::thread::spawn(move || {
                        let _ = handle(stream, &received, &script, &in_flight, &max_in_flight);
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
            script,
            in_flight,
            max_in_flight,
            stop,
            addr,
            handle: Some(handle),
        })
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Number of requests received.
    pub fn count(&self) -> usize {
        self.requests().len()
    }

    /// Most requests handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Replies left in the script.
    pub fn remaining(&self) -> usize {
        self.script.lock().map(|s| s.len()).unwrap_or(0)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Serve one connection. A request counts as in flight from the end of its headers until just
/// before its reply is written (the client cannot send its next request before it has read
/// the reply, so this never over-counts a client that keeps its own limit).
fn handle(
    stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    script: &Mutex<VecDeque<Reply>>,
    in_flight: &AtomicUsize,
    max_in_flight: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut content_length = 0usize;
    let mut authorization = None;
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // the wake-up connection of Drop
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.to_owned());
            }
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut r) = received.lock() {
        r.push(Received {
            authorization,
            body,
        });
    }
    let reply = script
        .lock()
        .ok()
        .and_then(|mut s| s.pop_front())
        .unwrap_or_else(|| Reply::Http(500, "script exhausted".into(), vec![]));
    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = match reply {
        Reply::Slow(delay, inner) => {
            std::thread::sleep(delay);
            *inner
        }
        other => other,
    };
    in_flight.fetch_sub(1, Ordering::SeqCst);
    respond(stream, reply)
}

fn respond(mut stream: TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Drop => {
            stream.shutdown(std::net::Shutdown::Both)?;
            Ok(())
        }
        Reply::Slow(delay, inner) => {
            std::thread::sleep(delay);
            respond(stream, *inner)
        }
        Reply::Http(code, body, headers) => {
            let mut head = format!(
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            // The client may have given up (timeout): ignore write errors.
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
            let _ = stream.flush();
            Ok(())
        }
    }
}
