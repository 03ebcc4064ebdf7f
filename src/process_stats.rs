//! Resident memory and CPU time of a process, from `/proc`: the node's own figures in
//! `/metrics`, and the load generator's reading of a node it is given the pid of.

use std::io;

/// Which process: this one, or another by pid.
#[derive(Debug, Clone, Copy)]
pub enum Process {
    This,
    Pid(u32),
}

impl Process {
    fn proc_file(self, name: &str) -> io::Result<String> {
        match self {
            Process::This => std::fs::read_to_string(format!("/proc/self/{name}")),
            Process::Pid(pid) => std::fs::read_to_string(format!("/proc/{pid}/{name}")),
        }
    }
}

/// `VmRSS` of `/proc/{pid}/status`, in bytes.
pub fn resident_bytes(process: Process) -> io::Result<u64> {
    parse_vm_rss(&process.proc_file("status")?)
        .ok_or_else(|| io::Error::other("no VmRSS line in /proc/…/status"))
}

/// User plus system CPU time, in seconds, from `/proc/{pid}/stat`.
pub fn cpu_seconds(process: Process) -> io::Result<f64> {
    let ticks = parse_cpu_ticks(&process.proc_file("stat")?)
        .ok_or_else(|| io::Error::other("unreadable /proc/…/stat"))?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    Ok(ticks as f64 / per_second as f64)
}

/// User plus system CPU time of this process and of its children that have ended, in seconds.
pub fn own_and_children_cpu_seconds() -> f64 {
    [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN]
        .into_iter()
        .map(|who| {
            // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            if unsafe { libc::getrusage(who, &mut usage) } != 0 {
                return 0.0;
            }
            let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            seconds(usage.ru_utime) + seconds(usage.ru_stime)
        })
        .sum()
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// utime + stime: fields 14 and 15, counted after the parenthesised command name (which may
/// itself hold spaces and parentheses).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(resident_bytes(Process::This).unwrap() > 0);
        assert!(cpu_seconds(Process::This).unwrap() >= 0.0);
        assert!(own_and_children_cpu_seconds() > 0.0);
    }

    #[test]
    fn a_missing_process_is_an_error() {
        assert!(resident_bytes(Process::Pid(u32::MAX)).is_err());
        assert!(cpu_seconds(Process::Pid(u32::MAX)).is_err());
    }

    #[test]
    fn parses_the_lines() {
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t  1234 kB\n"),
            Some(1234 * 1024)
        );
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        let stat = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(280));
        assert_eq!(parse_cpu_ticks("42 (x) S 1"), None);
    }
}
