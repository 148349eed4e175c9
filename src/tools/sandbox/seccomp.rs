//! A seccomp filter built in the harness and installed in each command's child before `exec`:
//! system calls that change the machine (mounts, modules, reboot, clocks, namespaces, io_uring)
//! fail with EPERM, and, when the network is off, sockets other than unix and netlink fail with
//! EAFNOSUPPORT ("address family not supported", which programs report as a network failure).

use std::io;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// The low 32 bits of the first argument (little-endian machines).
const OFFSET_ARG0: u32 = 16;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// System calls a command never needs and could use to harm the host.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_quotactl,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_fsconfig,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
];

/// A compiled filter; installing it copies nothing and allocates nothing.
#[derive(Debug, Clone)]
pub struct Filter {
    program: Vec<SockFilter>,
}

fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

impl Filter {
    /// `None` on architectures the filter is not written for.
    pub fn build(deny_inet: bool) -> Option<Filter> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            let mut program = vec![
                stmt(LD_W_ABS, OFFSET_ARCH),
                jump(JEQ_K, AUDIT_ARCH, 1, 0),
                stmt(RET_K, RET_ERRNO | libc::ENOSYS as u32),
                stmt(LD_W_ABS, OFFSET_NR),
            ];
            if cfg!(target_arch = "x86_64") {
                // The x32 ABI numbers its calls from bit 30 and would bypass the list.
                program.push(jump(JGE_K, 0x4000_0000, 0, 1));
                program.push(stmt(RET_K, RET_ERRNO | libc::ENOSYS as u32));
            }
            for &nr in DENIED {
                program.push(jump(JEQ_K, nr as u32, 0, 1));
                program.push(stmt(RET_K, RET_ERRNO | libc::EPERM as u32));
            }
            if deny_inet {
                program.push(jump(JEQ_K, libc::SYS_socket as u32, 0, 4));
                program.push(stmt(LD_W_ABS, OFFSET_ARG0));
                program.push(jump(JEQ_K, libc::AF_UNIX as u32, 2, 0));
                program.push(jump(JEQ_K, libc::AF_NETLINK as u32, 1, 0));
                program.push(stmt(RET_K, RET_ERRNO | libc::EAFNOSUPPORT as u32));
            }
            program.push(stmt(RET_K, RET_ALLOW));
            Some(Filter { program })
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            let _ = deny_inet;
            None
        }
    }

    /// Installs the filter on the calling thread. Called in the child between `fork` and `exec`;
    /// `no_new_privs` must already be set.
    pub fn install(&self) -> io::Result<()> {
        let program = SockFprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr(),
        };
        // SAFETY: the program outlives the call; the kernel copies it.
        let result = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const SockFprog,
            )
        };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Whether the kernel offers seccomp filters. A harness already under a filter (in a container)
/// can still add one: filters stack. Only EINVAL means the kernel has no seccomp.
pub fn available() -> bool {
    // SAFETY: reads the calling thread's seccomp mode.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP) };
    mode >= 0
}
