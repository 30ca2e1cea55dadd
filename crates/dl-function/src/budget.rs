//! The deterministic evaluation budget (ADR 0014).
//!
//! regorus's interpreter checks a cooperative execution timer every few work units and reads
//! the time from a process-wide time source. Built without its `std` feature, that source is
//! ours: [`StepClock`] does not read a clock, it advances by the work units done on the calling
//! thread. The interpreter's "time limit" is thereby a budget of work units, counted the same
//! on every machine and under any load. The wall clock is looked at only every
//! [`WALL_CHECK_EVERY`] reads, against a far-off safety net; when that net is passed the step
//! clock jumps past any budget, the interpreter stops, and [`metered`] reports the net, not the
//! budget.

use std::cell::Cell;
use std::num::NonZeroU32;
use std::sync::Once;
use std::time::{Duration, Instant};

use regorus::utils::limits::{set_time_source, ExecutionTimerConfig, TimeSource};

/// Interpreter work units between two reads of the step clock (the budget's granularity).
const CHECK_INTERVAL: u32 = 16;
/// Reads of the step clock between two looks at the wall clock.
const WALL_CHECK_EVERY: u64 = 64;
/// How far the step clock jumps when the safety net is passed: past any budget.
const BEYOND_ANY_BUDGET: Duration = Duration::from_secs(1 << 40);

thread_local! {
    /// Work units done on this thread (wrapping; only differences matter).
    static STEPS: Cell<u64> = const { Cell::new(0) };
    /// Wall-clock deadline of the evaluation running on this thread.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Whether that deadline was passed.
    static TIMED_OUT: Cell<bool> = const { Cell::new(false) };
}

/// The interpreter's time source: work units done on this thread, as nanoseconds.
struct StepClock;

impl TimeSource for StepClock {
    fn now(&self) -> Option<Duration> {
        let steps = STEPS.with(|s| {
            let v = s.get().wrapping_add(u64::from(CHECK_INTERVAL));
            s.set(v);
            v
        });
        if steps.is_multiple_of(u64::from(CHECK_INTERVAL) * WALL_CHECK_EVERY) {
            let passed = DEADLINE.with(|d| d.get().is_some_and(|d| Instant::now() >= d));
            if passed {
                TIMED_OUT.with(|t| t.set(true));
            }
        }
        let now = Duration::from_nanos(steps % (1 << 62));
        if TIMED_OUT.with(Cell::get) {
            return Some(now + BEYOND_ANY_BUDGET);
        }
        Some(now)
    }
}

static STEP_CLOCK: StepClock = StepClock;
static INSTALL: Once = Once::new();

/// The interpreter timer configuration for a budget of `max_steps` work units. Installs the
/// step clock as regorus's time source (once per process) before any interpreter uses it.
pub(crate) fn timer_config(max_steps: u64) -> ExecutionTimerConfig {
    INSTALL.call_once(|| {
        // Only this crate sets the source; a second call cannot happen behind `Once`.
        let _ = set_time_source(&STEP_CLOCK);
    });
    ExecutionTimerConfig {
        limit: Duration::from_nanos(max_steps),
        check_interval: NonZeroU32::new(CHECK_INTERVAL).unwrap_or(NonZeroU32::MIN),
    }
}

/// Runs one evaluation under the wall-clock safety net `net`; the flag says whether the net
/// was passed (then the interpreter stopped for that reason, not for its step budget).
pub(crate) fn metered<R>(net: Duration, evaluate: impl FnOnce() -> R) -> (R, bool) {
    DEADLINE.with(|d| d.set(Instant::now().checked_add(net)));
    TIMED_OUT.with(|t| t.set(false));
    let result = evaluate();
    let timed_out = TIMED_OUT.with(|t| t.replace(false));
    DEADLINE.with(|d| d.set(None));
    (result, timed_out)
}
