//! Confirmation (DESIGN.md §5.2): a miss is not yet downtime.
//!
//! Pure code: attempts go in, decided points come out. Nothing here knows about time sources, I/O or the
//! store, so every transition is covered by the table-driven tests below.
//!
//! - While **up**, a miss is held back (pending) and the next attempt comes after `retry_interval`. The
//!   `failure_threshold`-th consecutive miss confirms the outage: every held miss is released with
//!   `availability = 0`, so downtime starts at the first miss. A success first releases them as
//!   `availability = 100, ok = false` (transient).
//! - While **down**, successes are held the same way until `success_threshold` of them confirm recovery
//!   (released with `availability = 100`); a miss first releases them as `availability = 0, ok = true`.
//! - An **inconclusive** attempt (class `internal`: the agent failed, not the target, such as a timeout while
//!   the agent itself was overloaded) never counts towards a confirmation either way: alone it is written in
//!   the current state; inside a streak it is held with it and released with it.
//! - Points are released in attempt order and never changed afterwards.

use crate::probe::Attempt;
use watchpost_core::model::ErrorClass;

/// The confirmed state of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Up,
    Down,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Down => "down",
        }
    }
}

/// When the scheduler should run the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// On the endpoint's fixed-phase grid.
    Interval,
    /// After `retry_interval`: a decision is pending.
    Retry,
}

/// An attempt whose point values are now decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub attempt: Attempt,
    /// 100 or 0.
    pub availability: f64,
    pub confirmed_down: bool,
}

/// What one observation decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Points to write, in attempt order (possibly none while a decision is pending).
    pub points: Vec<Decided>,
    /// `Some((from, to))` when the confirmed state changed.
    pub transition: Option<(State, State)>,
    pub next: Next,
}

#[derive(Debug, Clone)]
pub struct Confirmer {
    failure_threshold: usize,
    success_threshold: usize,
    state: State,
    /// Attempts that disagree with `state` and are not yet decided.
    pending: Vec<Attempt>,
}

impl Confirmer {
    /// A new endpoint starts confirmed up: an outage must be seen `failure_threshold` times to be believed.
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Self {
        Confirmer {
            failure_threshold: failure_threshold.max(1) as usize,
            success_threshold: success_threshold.max(1) as usize,
            state: State::Up,
            pending: Vec::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// How many attempts are held undecided.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn observe(&mut self, attempt: Attempt) -> Decision {
        if attempt.error == Some(ErrorClass::Internal) {
            if self.pending.is_empty() {
                return Decision { points: vec![decided(attempt, self.state)], transition: None, next: Next::Interval };
            }
            // Held with the streak, in order, without counting: the streak is decided by the target alone.
            self.pending.push(attempt);
            return Decision { points: Vec::new(), transition: None, next: Next::Retry };
        }
        let agrees = match self.state {
            State::Up => attempt.ok,
            State::Down => !attempt.ok,
        };
        if agrees {
            // The streak that disagreed was transient: release it in the current state, then this attempt.
            let mut points: Vec<Decided> = self.pending.drain(..).map(|a| decided(a, self.state)).collect();
            points.push(decided(attempt, self.state));
            return Decision { points, transition: None, next: Next::Interval };
        }
        self.pending.push(attempt);
        let threshold = match self.state {
            State::Up => self.failure_threshold,
            State::Down => self.success_threshold,
        };
        let conclusive = self.pending.iter().filter(|a| a.error != Some(ErrorClass::Internal)).count();
        if conclusive < threshold {
            return Decision { points: Vec::new(), transition: None, next: Next::Retry };
        }
        let from = self.state;
        self.state = match from {
            State::Up => State::Down,
            State::Down => State::Up,
        };
        let points = self.pending.drain(..).map(|a| decided(a, self.state)).collect();
        Decision { points, transition: Some((from, self.state)), next: Next::Interval }
    }

    /// Releases what is still pending when the agent stops. An unconfirmed streak never became a state
    /// change, so it is written in the current confirmed state (a pending miss stays "not yet downtime").
    pub fn flush(&mut self) -> Vec<Decided> {
        self.pending.drain(..).map(|a| decided(a, self.state)).collect()
    }
}

fn decided(attempt: Attempt, state: State) -> Decided {
    let down = state == State::Down;
    Decided { attempt, availability: if down { 0.0 } else { 100.0 }, confirmed_down: down }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(i: i64, ok: bool) -> Attempt {
        Attempt { ok, error: (!ok).then_some(ErrorClass::Timeout), ..Attempt::at(i) }
    }

    /// Per step: the points released as `(attempt index, availability, ok)`, the transition, the next schedule.
    type Step = (Vec<(i64, u8, bool)>, Option<(State, State)>, Next);

    /// Runs a sequence of outcomes (`+` success, `-` miss) and returns, per step, the points released as
    /// `(attempt index, availability, ok)`, the transition and the next schedule.
    fn run(failure: u32, success: u32, seq: &str) -> Vec<Step> {
        let mut c = Confirmer::new(failure, success);
        seq.chars()
            .enumerate()
            .map(|(i, ch)| {
                let d = c.observe(attempt(i as i64, ch == '+'));
                let pts = d.points.iter().map(|p| (p.attempt.start, p.availability as u8, p.attempt.ok)).collect();
                (pts, d.transition, d.next)
            })
            .collect()
    }

    use Next::{Interval as I, Retry as R};
    use State::{Down as D, Up as U};

    #[test]
    fn table_of_transitions() {
        type Row = (&'static str, u32, u32, &'static str, Vec<Step>);
        let table: Vec<Row> = vec![
            ("all up", 3, 1, "++", vec![(vec![(0, 100, true)], None, I), (vec![(1, 100, true)], None, I)]),
            (
                "one transient miss is written as up, not ok",
                3,
                1,
                "+-+",
                vec![(vec![(0, 100, true)], None, I), (vec![], None, R), (vec![(1, 100, false), (2, 100, true)], None, I)],
            ),
            (
                "two misses then recovery: both transient",
                3,
                1,
                "--+",
                vec![(vec![], None, R), (vec![], None, R), (vec![(0, 100, false), (1, 100, false), (2, 100, true)], None, I)],
            ),
            (
                "third miss confirms from the first miss",
                3,
                1,
                "---",
                vec![(vec![], None, R), (vec![], None, R), (vec![(0, 0, false), (1, 0, false), (2, 0, false)], Some((U, D)), I)],
            ),
            (
                "misses while down are written at once",
                3,
                1,
                "----",
                vec![
                    (vec![], None, R),
                    (vec![], None, R),
                    (vec![(0, 0, false), (1, 0, false), (2, 0, false)], Some((U, D)), I),
                    (vec![(3, 0, false)], None, I),
                ],
            ),
            (
                "one success recovers with success_threshold 1",
                3,
                1,
                "---+",
                vec![
                    (vec![], None, R),
                    (vec![], None, R),
                    (vec![(0, 0, false), (1, 0, false), (2, 0, false)], Some((U, D)), I),
                    (vec![(3, 100, true)], Some((D, U)), I),
                ],
            ),
            (
                "success_threshold 2: a lone success while down stays down",
                1,
                2,
                "-+-++",
                vec![
                    (vec![(0, 0, false)], Some((U, D)), I),
                    (vec![], None, R),
                    (vec![(1, 0, true), (2, 0, false)], None, I),
                    (vec![], None, R),
                    (vec![(3, 100, true), (4, 100, true)], Some((D, U)), I),
                ],
            ),
            ("failure_threshold 1 confirms at once", 1, 1, "-", vec![(vec![(0, 0, false)], Some((U, D)), I)]),
            (
                "a streak interrupted resets the count",
                3,
                1,
                "--+--",
                vec![
                    (vec![], None, R),
                    (vec![], None, R),
                    (vec![(0, 100, false), (1, 100, false), (2, 100, true)], None, I),
                    (vec![], None, R),
                    (vec![], None, R),
                ],
            ),
        ];
        for (name, f, s, seq, want) in table {
            assert_eq!(run(f, s, seq), want, "case: {name}");
        }
    }

    /// Issue 17, defect 16: an overloaded agent turned its own timeouts into confirmed outages. Attempts of
    /// class `internal` never confirm anything.
    #[test]
    fn regression_inconclusive_attempts_never_confirm_an_outage() {
        let internal = |i: i64| Attempt { ok: false, error: Some(ErrorClass::Internal), ..Attempt::at(i) };
        let mut c = Confirmer::new(3, 1);
        for i in 0..10 {
            let d = c.observe(internal(i));
            assert_eq!((d.transition, d.points.len(), d.points[0].availability), (None, 1, 100.0), "alone, written as up");
        }
        // Inside a streak they are held in order and do not count: two misses and eight internal ones are no outage.
        c.observe(attempt(10, false));
        for i in 11..15 {
            assert!(c.observe(internal(i)).points.is_empty());
        }
        assert!(c.observe(attempt(15, false)).transition.is_none(), "two real misses only");
        let d = c.observe(attempt(16, true));
        let order: Vec<(i64, u8)> = d.points.iter().map(|p| (p.attempt.start, p.availability as u8)).collect();
        assert_eq!(order, (10..=16).map(|i| (i, 100)).collect::<Vec<_>>(), "released in order, as up");
        // The target's own third miss still confirms, from the first miss, the internal ones included.
        c.observe(attempt(17, false));
        c.observe(internal(18));
        c.observe(attempt(19, false));
        let d = c.observe(attempt(20, false));
        assert_eq!(d.transition, Some((State::Up, State::Down)));
        assert_eq!(d.points.len(), 4);
        // While down, internal attempts do not recover it either.
        assert_eq!(c.observe(internal(21)).points[0].availability, 0.0);
        assert_eq!(c.state(), State::Down);
    }

    #[test]
    fn flush_writes_pending_misses_as_not_yet_down() {
        let mut c = Confirmer::new(3, 1);
        c.observe(attempt(0, false));
        c.observe(attempt(1, false));
        assert_eq!(c.pending(), 2);
        let out = c.flush();
        assert_eq!(out.iter().map(|d| (d.availability, d.confirmed_down)).collect::<Vec<_>>(), vec![(100.0, false), (100.0, false)]);
        assert_eq!(c.pending(), 0);
        assert_eq!(c.state(), State::Up);
    }

    #[test]
    fn confirmed_down_flag_follows_the_state() {
        let mut c = Confirmer::new(2, 1);
        c.observe(attempt(0, false));
        let d = c.observe(attempt(1, false));
        assert!(d.points.iter().all(|p| p.confirmed_down));
        let d = c.observe(attempt(2, true));
        assert!(d.points.iter().all(|p| !p.confirmed_down));
    }
}
