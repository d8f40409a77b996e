//! A minimal HTTP/1.1 client for loopback checks (no dependency needed).

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream, ToSocketAddrs},
    time::Duration,
};

use anyhow::{bail, Context, Result};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// `method path` on `addr` (`host:port`, loopback only); returns (status, body).
pub fn request(method: &str, addr: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let sock = addr.to_socket_addrs()?.next().with_context(|| format!("cannot resolve {addr}"))?;
    if !sock.ip().is_loopback() {
        bail!("refusing to send a request to {sock}: loopback only");
    }
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&String::from_utf8_lossy(&raw))
}

fn parse_response(raw: &str) -> Result<(u16, String)> {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP response: {:?}", head.chars().take(80).collect::<String>()))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let (s, b) = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
        assert_eq!((s, b.as_str()), (200, "ok"));
        let (s, b) =
            parse_response("HTTP/1.1 503 x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                .unwrap();
        assert_eq!((s, b.as_str()), (503, "abcde"));
        assert!(parse_response("garbage").is_err());
        assert!(request("GET", "10.0.0.1:80", "/", None).unwrap_err().to_string().contains("loopback only"));
    }
}
