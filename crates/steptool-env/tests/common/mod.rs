//! Test helpers: a bounded loopback HTTP server.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use steptool_env::{Error, Result};

/// An io result as this crate's error.
pub fn io<T>(r: std::io::Result<T>, what: &str) -> Result<T> {
    r.map_err(|e| Error::io(what, e))
}

/// A loopback server answering `responses` (status, body, delay) in order, then stopping.
pub fn serve(responses: Vec<(u16, String, u64)>) -> Result<(String, JoinHandle<Vec<String>>)> {
    let listener = io(TcpListener::bind("127.0.0.1:0"), "bind")?;
    let addr = io(listener.local_addr(), "addr")?;
    io(listener.set_nonblocking(true), "nonblocking")?;
    let handle = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        for (status, body, delay) in responses {
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => return bodies,
                }
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let request = loop {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break String::from_utf8_lossy(&buf).into_owned(),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if rest.len() >= len {
                        break text;
                    }
                }
            };
            bodies.push(
                request
                    .split_once("\r\n\r\n")
                    .map(|(_, b)| b.to_owned())
                    .unwrap_or_default(),
            );
            std::thread::sleep(Duration::from_millis(delay));
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
        bodies
    });
    Ok((format!("http://{addr}/virtual"), handle))
}
