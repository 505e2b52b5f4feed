//! Real-time scheduling for the threads whose latency is the product: a scanner thread
//! reads a few kilobytes per scan and works for tens of microseconds, so it may preempt every
//! ordinary thread without starving them (and the kernel keeps 5% of each second for
//! ordinary threads whatever the real-time ones do).

use thread_priority::{
    RealtimeThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
    set_thread_priority_and_policy, thread_native_id,
};

/// Puts the calling thread under SCHED_FIFO at the lowest real-time priority, above every
/// ordinary thread. Fails without the privilege (CAP_SYS_NICE, or an RLIMIT_RTPRIO above 0).
pub(crate) fn raise_current_thread() -> Result<(), thread_priority::Error> {
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
}

#[cfg(test)]
mod tests {
    use thread_priority::unix::thread_schedule_policy;

    use super::*;

    /// Whether this process may use real-time scheduling, read from the kernel's own account:
    /// CAP_SYS_NICE (bit 23) among its effective capabilities, or a soft RLIMIT_RTPRIO of at
    /// least 1.
    fn may_raise() -> bool {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let capabilities = status
            .lines()
            .find_map(|line| line.strip_prefix("CapEff:"))
            .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
            .unwrap();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let rtprio = limits
            .lines()
            .find(|line| line.starts_with("Max realtime priority"))
            .and_then(|line| line.split_whitespace().nth(3))
            .map(|soft| soft == "unlimited" || soft.parse::<u64>().unwrap() >= 1)
            .unwrap();
        capabilities & (1 << 23) != 0 || rtprio
    }

    #[test]
    fn a_thread_is_raised_to_fifo_exactly_when_the_process_may() {
        let outcome = std::thread::spawn(|| {
            raise_current_thread().map(|()| thread_schedule_policy().unwrap())
        })
        .join()
        .unwrap();
        if may_raise() {
            assert_eq!(
                outcome,
                Ok(ThreadSchedulePolicy::Realtime(
                    RealtimeThreadSchedulePolicy::Fifo
                ))
            );
        } else {
            // EPERM: neither CAP_SYS_NICE nor an RLIMIT_RTPRIO of at least 1.
            assert_eq!(outcome, Err(thread_priority::Error::OS(1)));
        }
    }
}
