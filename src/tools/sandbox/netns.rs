//! A private network namespace per mission: created on a short-lived thread (namespaces belong to
//! threads), kept alive by a file descriptor, and joined by each command's child before `exec`.
//! It has a loopback interface and nothing else; loopback is up only when the mission asks for it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[derive(Debug)]
pub struct NetNamespace {
    fd: OwnedFd,
}

impl NetNamespace {
    pub fn create(loopback: bool) -> io::Result<NetNamespace> {
        let fd = std::thread::Builder::new()
            .name("netns".to_string())
            .spawn(move || -> io::Result<OwnedFd> {
                // SAFETY: unshare affects only this thread, which ends right after.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
                    return Err(io::Error::last_os_error());
                }
                let fd = super::open_own_namespace("net")?;
                if loopback {
                    loopback_up()?;
                }
                Ok(fd)
            })?
            .join()
            .map_err(|_| io::Error::other("the network namespace thread panicked"))??;
        Ok(NetNamespace { fd })
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Whether something listens on `127.0.0.1:port` inside the namespace: a connection tried
    /// from a short-lived thread that joins it.
    pub fn accepts(&self, port: u16) -> bool {
        let fd = self.raw_fd();
        std::thread::Builder::new()
            .name("netns-probe".to_string())
            .spawn(move || {
                enter(fd).is_ok()
                    && std::net::TcpStream::connect_timeout(
                        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                        std::time::Duration::from_millis(500),
                    )
                    .is_ok()
            })
            .ok()
            .and_then(|thread| thread.join().ok())
            .unwrap_or(false)
    }
}

/// Brings `lo` up in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket and ioctl calls on a zeroed `ifreq` naming `lo`.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if socket < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = OwnedFd::from_raw_fd(socket);
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Joins the namespace. Called in the child between `fork` and `exec`.
pub fn enter(fd: i32) -> io::Result<()> {
    // SAFETY: a namespace descriptor inherited from the harness.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
