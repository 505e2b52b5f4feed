//! The session's pure parts: which device states refuse to measure, and the backoff.

use super::*;
use crate::cola::DeviceState;

#[test]
fn device_states_that_refuse_to_measure() {
    let state = |status_code, temperature_ok| DeviceState {
        status_code,
        temperature_ok,
        time: String::new(),
        date: String::new(),
        leds: [0; 3],
    };
    for status in 0..=2 {
        assert!(
            connection::device_refusal(&state(status, true)).is_some(),
            "{status}"
        );
    }
    for status in 3..=7 {
        assert_eq!(
            connection::device_refusal(&state(status, true)),
            None,
            "{status}"
        );
    }
    assert_eq!(
        connection::device_refusal(&state(7, false)).unwrap(),
        "device temperature out of range (status 7)"
    );
}

#[test]
fn backoff_doubles_up_to_one_second() {
    let delays: Vec<u64> = (1..=8).map(|n| backoff(n).as_millis() as u64).collect();
    assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
}
