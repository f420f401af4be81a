//! A small WebDriver client for the browser tests: W3C WebDriver is JSON over
//! HTTP/1.1, so the few commands the tests need are spoken directly over a
//! `TcpStream` to a `chromedriver` this module starts on a free loopback port (and
//! kills when dropped). No async runtime is built for it.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `name` on PATH, if there.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The chromium and chromedriver to use; `None` when either is missing (in CI, where
/// `.ci/run` installs both, that is a failure, not a skip).
pub fn tools() -> Option<(PathBuf, PathBuf)> {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(on_path);
    let driver = on_path("chromedriver");
    match (browser, driver) {
        (Some(b), Some(d)) => Some((b, d)),
        (b, d) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have chromium and chromedriver (Debian: chromium, chromium-driver); found browser {b:?}, driver {d:?}"
            );
            eprintln!("skipping the browser test: chromium or chromedriver is not installed");
            None
        }
    }
}

/// A running chromedriver with one headless Chromium session.
pub struct Session {
    driver: Child,
    port: u16,
    id: String,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.call("DELETE", &format!("/session/{}", self.id), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    // chromedriver keeps the connection open whatever the request says: read the
    // headers, then Content-Length bytes (or the chunks).
    let mut r = std::io::BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut r, &mut line)? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.strip_prefix(name)
                .map(|v| v.trim_start_matches(':').trim().to_string())
        })
    };
    let mut payload = Vec::new();
    if let Some(n) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        payload.resize(n, 0);
        r.read_exact(&mut payload)?;
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut r, &mut line)?;
            let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)?;
            payload.extend_from_slice(&chunk[..size]);
        }
    } else {
        r.read_to_end(&mut payload)?;
    }
    let v = if payload.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&payload).map_err(std::io::Error::other)?
    };
    Ok((status, v))
}

impl Session {
    /// Starts chromedriver and a headless Chromium session that records the
    /// browser's console.
    pub fn start(browser: &Path, driver: &Path) -> Session {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut session = Session {
            driver: child,
            port,
            id: String::new(),
        };
        // Ready when /status says so; a bounded number of tries, not a timing.
        let mut ready = false;
        for _ in 0..200 {
            if let Ok((200, v)) = http(port, "GET", "/status", None)
                && v["value"]["ready"] == json!(true)
            {
                ready = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(ready, "chromedriver did not become ready on port {port}");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": browser,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"]
            }
        }}});
        let v = session
            .call("POST", "/session", Some(&caps))
            .expect("a session");
        session.id = v["sessionId"].as_str().expect("a session id").to_string();
        session
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let (status, v) = http(self.port, method, path, body).map_err(|e| e.to_string())?;
        if (200..300).contains(&status) {
            Ok(v["value"].clone())
        } else {
            Err(format!("{method} {path}: HTTP {status}: {v}"))
        }
    }

    /// A command of this session (`/session/ID` + `path`); panics on a WebDriver error.
    pub fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.id);
        let body = (method == "POST").then_some(&body);
        self.call(method, &path, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the current frame.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
    }

    /// The element `css` selects in the current frame (its reference).
    pub fn find(&self, css: &str) -> Value {
        self.cmd(
            "POST",
            "/element",
            json!({ "using": "css selector", "value": css }),
        )
    }

    pub fn click(&self, element: &Value) {
        // Its one value (chromedriver may name the key otherwise for some elements).
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("not an element: {element}"));
        self.cmd("POST", &format!("/element/{id}/click"), json!({}));
    }

    /// Into the frame `element` is; `None`: back to the page.
    pub fn frame(&self, element: Option<&Value>) {
        match element {
            Some(e) => self.cmd("POST", "/frame", json!({ "id": e })),
            None => self.cmd("POST", "/frame/parent", json!({})),
        };
    }

    /// Answers the open `prompt()` with `text`.
    pub fn answer_prompt(&self, text: &str) {
        self.cmd("POST", "/alert/text", json!({ "text": text }));
        self.cmd("POST", "/alert/accept", json!({}));
    }

    /// The browser console since the last call: (level, message).
    pub fn console(&self) -> Vec<(String, String)> {
        let v = self.cmd("POST", "/se/log", json!({ "type": "browser" }));
        v.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or("").to_string(),
                            e["message"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs `script` until it returns true, a bounded number of times.
    pub fn wait_for(&self, script: &str, what: &str) {
        for _ in 0..100 {
            if self.run(script, json!([])) == json!(true) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("never true: {what}");
    }
}
