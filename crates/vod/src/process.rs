//! What the kernel says of this process (Linux `/proc/self`), or of another one: resident
//! memory, open files, the CPU time of the whole process, and that of each thread alive by
//! name (the scanner threads are `lidar-<scanner>`).

use std::collections::BTreeMap;
use std::path::Path;

/// `/proc` counts CPU time in ticks of USER_HZ, which is 100 on Linux.
const TICKS_PER_S: u64 = 100;

/// The process as of now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessSample {
    pub rss_bytes: u64,
    pub open_files: u64,
    pub threads: u64,
    /// CPU time (user and system) of the process, threads that have ended included.
    pub cpu_ms: u64,
    /// CPU time (user and system) of the threads alive now, by name, added up.
    pub thread_cpu_ms: BTreeMap<String, u64>,
}

/// Reads `/proc/self`; what cannot be read stays zero (not Linux, or a restricted `/proc`).
pub fn sample() -> ProcessSample {
    sample_of(Path::new("/proc/self"))
}

/// Reads a process's folder in `/proc` (`/proc/<pid>`), as [`sample`] does.
pub fn sample_of(proc_dir: &Path) -> ProcessSample {
    let rss_bytes = std::fs::read_to_string(proc_dir.join("status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| {
                    value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kib| kib * 1024);
    let open_files = std::fs::read_dir(proc_dir.join("fd")).map_or(0, |dir| dir.count() as u64);
    let cpu_ms = cpu_of(&proc_dir.join("stat")).map_or(0, |(_, ms)| ms);
    let mut thread_cpu_ms = BTreeMap::new();
    let mut threads = 0;
    if let Ok(tasks) = std::fs::read_dir(proc_dir.join("task")) {
        for task in tasks.flatten() {
            if let Some((name, ms)) = cpu_of(&task.path().join("stat")) {
                threads += 1;
                *thread_cpu_ms.entry(name).or_insert(0) += ms;
            }
        }
    }
    ProcessSample {
        rss_bytes,
        open_files,
        threads,
        cpu_ms,
        thread_cpu_ms,
    }
}

/// The name and the CPU time in ms of the process or thread whose `stat` file is at `path`.
fn cpu_of(path: &Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    thread_cpu(&stat).map(|(name, ticks)| (name, ticks * 1000 / TICKS_PER_S))
}

/// A thread's (or the process's) name and its user plus system ticks, from its `stat` line:
/// `pid (comm) state ...` with utime and stime the 14th and 15th fields. The name may hold spaces and
/// parentheses, so it ends at the last `)`.
fn thread_cpu(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_the_name_and_its_ticks() {
        let stat = "4242 (lidar-front) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0";
        assert_eq!(thread_cpu(stat), Some(("lidar-front".to_owned(), 300)));
        let odd = "7 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 3 4 0 0";
        assert_eq!(thread_cpu(odd), Some(("a (b) c".to_owned(), 7)));
        assert_eq!(thread_cpu("garbage"), None);
    }

    #[test]
    fn the_process_keeps_the_cpu_time_of_a_thread_that_ended() {
        let before = sample().cpu_ms;
        // A thread that works until the kernel has counted 50 ms of its own, then ends.
        let worked_ms = std::thread::Builder::new()
            .name("cpu-burner".to_owned())
            .spawn(|| {
                let own = || cpu_of(Path::new("/proc/thread-self/stat")).map_or(0, |(_, ms)| ms);
                let start = own();
                let mut x = 0u64;
                while own() < start + 50 {
                    for i in 0..100_000u64 {
                        x = std::hint::black_box(x.wrapping_add(i));
                    }
                }
                own() - start
            })
            .unwrap()
            .join()
            .unwrap();
        let after = sample();
        assert!(worked_ms >= 50);
        assert!(after.cpu_ms >= before + worked_ms, "{before} -> {after:?}");
        assert!(!after.thread_cpu_ms.contains_key("cpu-burner"), "{after:?}");
    }

    #[test]
    fn this_process_has_memory_files_and_threads() {
        let sample = sample();
        assert!(
            sample.rss_bytes > 1024 * 1024 && sample.open_files >= 3 && sample.threads >= 1,
            "{sample:?}"
        );
    }
}
