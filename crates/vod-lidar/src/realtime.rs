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

    #[test]
    fn a_raised_thread_is_under_fifo_and_a_refusal_is_for_want_of_privilege() {
        let outcome = std::thread::spawn(|| {
            raise_current_thread().map(|()| thread_schedule_policy().unwrap())
        })
        .join()
        .unwrap();
        match outcome {
            Ok(policy) => assert_eq!(
                policy,
                ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo)
            ),
            // EPERM: neither CAP_SYS_NICE nor an RLIMIT_RTPRIO of at least 1.
            Err(error) => assert_eq!(error, thread_priority::Error::OS(1)),
        }
    }
}
