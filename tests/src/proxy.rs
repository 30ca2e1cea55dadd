//! A TCP forwarder on 127.0.0.1 that a test can cut or stall, to put a network fault between a
//! service and one of its peers (the KMS, a broker):
//!
//! - [`Proxy::set_up`]`(false)` cuts every connection and refuses new ones (an outage as a
//!   client sees it: connection reset), `set_up(true)` ends it;
//! - [`Proxy::stall`] stops forwarding, in both directions, the bytes of the connections that
//!   belong to the given processes, without closing anything (a stalled network path: the
//!   client's requests time out, its sockets stay open); [`Proxy::resume`] forwards what was
//!   held and goes on. Other processes' connections through the same proxy are not touched.
//!
//! Which process a connection belongs to is read from Linux's `/proc` (the client socket's
//! inode in `/proc/net/tcp`, found among `/proc/<pid>/fd`), so a stall works on Linux only.

use std::collections::HashSet;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the bytes it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Forwards.
    Up,
    /// Cuts every connection and refuses new ones.
    Down,
    /// Holds the bytes of the connections of `pids`; `epoch` tells one stall from the next.
    Stall { epoch: u64, pids: Vec<u32> },
}

/// A running proxy (its tasks run on the test's tokio runtime).
pub struct Proxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    /// Listens on a free port and forwards to `127.0.0.1:target_port`.
    pub async fn start(target_port: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Self::start_on(listener, target_port)
    }

    /// Forwards what `listener` accepts to `127.0.0.1:target_port` (for a peer that must know
    /// the proxy's port before the proxy runs, such as a broker advertising it).
    pub fn start_on(listener: TcpListener, target_port: u16) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let (mode, rx) = watch::channel(Mode::Up);
        tokio::spawn(async move {
            while let Ok((inbound, peer)) = listener.accept().await {
                if *rx.borrow() == Mode::Down {
                    continue; // dropped: connection reset
                }
                let rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                        return;
                    };
                    let inode = client_socket_inode(peer.port(), port);
                    let (ir, iw) = inbound.into_split();
                    let (or, ow) = outbound.into_split();
                    tokio::select! {
                        _ = pump(ir, ow, inode, rx.clone()) => {}
                        _ = pump(or, iw, inode, rx) => {}
                    }
                });
            }
        });
        Ok(Self { port, mode })
    }

    /// `false` cuts every connection and refuses new ones; `true` forwards again.
    pub fn set_up(&self, up: bool) {
        self.mode
            .send_replace(if up { Mode::Up } else { Mode::Down });
    }

    /// Stops forwarding the connections of the processes `pids` (open now or opened during the
    /// stall) until [`Proxy::resume`].
    pub fn stall(&self, pids: &[u32]) {
        self.mode.send_modify(|m| {
            let epoch = match m {
                Mode::Stall { epoch, .. } => *epoch + 1,
                _ => 1,
            };
            *m = Mode::Stall {
                epoch,
                pids: pids.to_vec(),
            };
        });
    }

    /// Ends a stall: the held bytes go through, forwarding goes on.
    pub fn resume(&self) {
        self.mode.send_replace(Mode::Up);
    }
}

/// Copies `from` to `to` until either side closes or the proxy is cut; holds the bytes while
/// the connection (the client socket `inode`) is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    inode: Option<u64>,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    // Whether this connection belongs to the stalled processes, per stall.
    let mut stalled: Option<(u64, bool)> = None;
    loop {
        if !hold(&mut mode, inode, &mut stalled).await {
            return;
        }
        let n = tokio::select! {
            n = from.read(&mut buf) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = mode.wait_for(|m| *m == Mode::Down) => return,
        };
        if !hold(&mut mode, inode, &mut stalled).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits while this connection is stalled; `false` when the proxy is cut.
async fn hold(
    mode: &mut watch::Receiver<Mode>,
    inode: Option<u64>,
    stalled: &mut Option<(u64, bool)>,
) -> bool {
    loop {
        let current = mode.borrow_and_update().clone();
        match current {
            Mode::Up => return true,
            Mode::Down => return false,
            Mode::Stall { epoch, pids } => {
                let mine = match *stalled {
                    Some((e, mine)) if e == epoch => mine,
                    _ => {
                        let mine = inode.is_some_and(|i| pids.iter().any(|p| owns(*p, i)));
                        *stalled = Some((epoch, mine));
                        mine
                    }
                };
                if !mine || mode.changed().await.is_err() {
                    return true;
                }
            }
        }
    }
}

/// The inode of the client's socket of a connection from `127.0.0.1:client_port` to
/// `127.0.0.1:proxy_port`, from `/proc/net/tcp` (IPv4; fields are hex, `local rem ... inode`).
fn client_socket_inode(client_port: u16, proxy_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let (local, remote) = (
        format!("0100007F:{client_port:04X}"),
        format!("0100007F:{proxy_port:04X}"),
    );
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && f[1] == local && f[2] == remote)
            .then(|| f[9].parse().ok())
            .flatten()
    })
}

/// Whether process `pid` holds the socket `inode`.
fn owns(pid: u32, inode: u64) -> bool {
    socket_inodes(pid).contains(&inode)
}

fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    fds.filter_map(|fd| {
        let link = std::fs::read_link(fd.ok()?.path()).ok()?;
        link.to_str()?
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    })
    .collect()
}
