//! The testkit's own tests: each helper does what its documentation says, against a
//! real Distribution or a stub upstream that records what reached it.

mod distribution;
mod faults;
mod forward;
mod helpers;
mod stub;
