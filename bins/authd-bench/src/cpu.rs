//! CPU time spent by authd and by PostgreSQL over a measured window, read from `/proc`, so each
//! figure can be given per request next to its rate.

use std::path::Path;

/// CPU seconds (user + system) used so far by authd and by every PostgreSQL process.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    /// The server's processes (all their threads): authd, or the peer's processes.
    pub authd: f64,
    /// Every process named `postgres` (the server and its backends); backends that started or
    /// ended inside the window are counted only for the part seen, which the report accepts.
    pub postgres: f64,
}

impl CpuTimes {
    /// Reads both now, `server` being the server's processes; a process that vanished while
    /// being read counts nothing.
    pub fn now(server: &[u32]) -> Self {
        let ticks = clock_ticks();
        let authd: u64 =
            server.iter().map(|pid| process_ticks(&Path::new("/proc").join(pid.to_string())).unwrap_or(0)).sum();
        let mut postgres = 0;
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let path = entry.path();
                let numeric =
                    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
                if numeric && std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.trim() == "postgres") {
                    postgres += process_ticks(&path).unwrap_or(0);
                }
            }
        }
        Self { authd: authd as f64 / ticks, postgres: postgres as f64 / ticks }
    }

    /// The CPU used between `earlier` and this reading.
    pub fn since(self, earlier: Self) -> Self {
        Self { authd: (self.authd - earlier.authd).max(0.0), postgres: (self.postgres - earlier.postgres).max(0.0) }
    }
}

/// utime + stime of a process, in clock ticks (fields 14 and 15 of `stat`, counted after the
/// command name, which may hold spaces and parentheses).
fn process_ticks(process: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(process.join("stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// Clock ticks per second of `/proc`'s times.
fn clock_ticks() -> f64 {
    #[cfg(target_os = "linux")]
    {
        rustix::param::clock_ticks_per_second() as f64
    }
    #[cfg(not(target_os = "linux"))]
    {
        100.0
    }
}
