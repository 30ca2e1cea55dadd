//! Test helper: a private `redis-server` child process on a free loopback port.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` started for one test; killed (SIGKILL) on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

fn redis_binary() -> String {
    std::env::var("DL_REDIS_SERVER").unwrap_or_else(|_| {
        if std::path::Path::new("/usr/bin/redis-server").exists() {
            "/usr/bin/redis-server".into()
        } else {
            "redis-server".into()
        }
    })
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

fn spawn(port: u16) -> Child {
    Command::new(redis_binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            &std::env::temp_dir().to_string_lossy(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server (apt-get install redis-server)")
}

/// Waits until the server answers PING; `false` if the child exited or it never answered.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("url");
    for _ in 0..400 {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200)) {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

impl RedisServer {
    /// Starts a server on a free port (retrying with another port if it is taken meanwhile).
    pub fn start() -> Self {
        for _ in 0..10 {
            let port = free_port();
            let mut child = spawn(port);
            if wait_ready(&mut child, port) {
                return RedisServer {
                    port,
                    child: Some(child),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start redis-server");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGKILLs the server (no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts a new, empty server on the same port.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..40 {
            let mut child = spawn(self.port);
            if wait_ready(&mut child, self.port) {
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not restart redis-server on port {}", self.port);
    }

    /// A plain synchronous connection for assertions.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("url")
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect")
    }
}

/// One `INFO all` snapshot, read over a given connection (opening a connection sends commands of
/// its own, so measurements reuse one).
pub struct InfoSnapshot(String);

impl InfoSnapshot {
    pub fn take(conn: &mut redis::Connection) -> Self {
        InfoSnapshot(redis::cmd("INFO").arg("all").query(conn).expect("INFO all"))
    }

    /// A numeric field such as `total_commands_processed`.
    pub fn field(&self, field: &str) -> u64 {
        self.0
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().parse().expect("numeric"))
            .unwrap_or(0)
    }

    /// `calls` of one command in the commandstats section (e.g. `set`, `evalsha`).
    pub fn command_calls(&self, command: &str) -> u64 {
        let prefix = format!("cmdstat_{command}:calls=");
        self.0
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .map(|n| n.parse().expect("numeric"))
            .unwrap_or(0)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
