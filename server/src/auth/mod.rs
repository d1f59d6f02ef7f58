//! Who may do what, and how hard guessing is: member PINs and their hashing threads, the
//! tokens handed to desks and members (stored hashed) and the sessions remembered for them,
//! operators' second factor, the limits on guessing, and the address a request comes from
//! (which those limits count by).

pub mod client_ip;
pub mod logins;
pub mod member_sessions;
pub mod pins;
pub mod rate_limit;
pub mod tokens;
pub mod totp;
