//! Resident memory of a process, from `/proc`: the node's own figure in `/metrics`, and the
//! load generator's reading of a node it is given the pid of.

use std::io;

/// Which process: this one, or another by pid.
#[derive(Debug, Clone, Copy)]
pub enum Process {
    This,
    Pid(u32),
}

/// `VmRSS` of `/proc/{pid}/status`, in bytes.
pub fn resident_bytes(process: Process) -> io::Result<u64> {
    let path = match process {
        Process::This => "/proc/self/status".to_string(),
        Process::Pid(pid) => format!("/proc/{pid}/status"),
    };
    let status = std::fs::read_to_string(path)?;
    parse_vm_rss(&status).ok_or_else(|| io::Error::other("no VmRSS line in /proc/…/status"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(resident_bytes(Process::This).unwrap() > 0);
    }

    #[test]
    fn a_missing_process_is_an_error() {
        assert!(resident_bytes(Process::Pid(u32::MAX)).is_err());
    }

    #[test]
    fn parses_the_line() {
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t  1234 kB\n"),
            Some(1234 * 1024)
        );
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }
}
