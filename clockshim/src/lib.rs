//! clockshim: loaded into a node with `LD_PRELOAD`, it moves the node's
//! clocks (wall and monotonic alike) by the offset written in the file that
//! `FAULTLINE_CLOCK_FILE` names, reread at most every 10 ms, so the
//! nemesis's clock faults reach Raft ticks, timeouts and leases.
//!
//! Why not libfaketime: its faked monotonic clock counts from the epoch,
//! while the kernel keeps waiting on the real one. Rust's std (and glibc's
//! condition variables) hand the kernel absolute monotonic deadlines, so a
//! node under libfaketime slept for decades at every timed wait until some
//! message woke it, even at offset 0. Here the monotonic clock stays the
//! real one plus the offset, and every absolute deadline handed to the
//! kernel (futex waits, condition variables, `clock_nanosleep`) has the
//! offset taken off again: a wait lasts as long as it should, while every
//! reading of the clock is off by the offset, as on a machine whose clock
//! was set.
//!
//! The file holds signed seconds (`+1.500`, `-10.000`); a missing or
//! unreadable file means 0. The wall clock takes the offset as it is and
//! may go back. A monotonic clock never goes back, here as on any machine:
//! when the offset drops, the monotonic clocks stand still until real time
//! has caught up (a clock set back stalls every timer, and a drift below
//! 1x runs them slow). Process and thread CPU clocks are left alone.

use std::ffi::CStr;
use std::sync::atomic::{AtomicI64, AtomicPtr, Ordering};

use libc::{c_char, c_int, c_long, c_void, clockid_t, time_t, timespec, timeval};

/// The environment variable naming the offset file.
pub const CLOCK_FILE_ENV: &str = "FAULTLINE_CLOCK_FILE";
const CLOCK_FILE_ENV_C: &CStr = c"FAULTLINE_CLOCK_FILE";

const REREAD_NS: i64 = 10_000_000;
const NS: i64 = 1_000_000_000;

static OFFSET_NS: AtomicI64 = AtomicI64::new(0);
static LAST_READ_NS: AtomicI64 = AtomicI64::new(i64::MIN / 2);

/// Parses `+1.500`, `-10`, `0.25`: signed seconds, up to nanoseconds.
pub fn parse_offset(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut ns: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        ns += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    let v = secs.checked_mul(NS)?.checked_add(ns)?;
    Some(if neg { -v } else { v })
}

/// Looks up the next definition of `name` (the real libc function).
unsafe fn next(name: &CStr, slot: &AtomicPtr<c_void>) -> *mut c_void {
    let mut p = slot.load(Ordering::Relaxed);
    if p.is_null() {
        p = libc::dlsym(libc::RTLD_NEXT, name.as_ptr());
        slot.store(p, Ordering::Relaxed);
    }
    p
}

type ClockGettime = unsafe extern "C" fn(clockid_t, *mut timespec) -> c_int;
static REAL_CLOCK_GETTIME: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

unsafe fn real_clock_gettime(clk: clockid_t, tp: *mut timespec) -> c_int {
    let f = next(c"clock_gettime", &REAL_CLOCK_GETTIME);
    if f.is_null() {
        return libc::syscall(libc::SYS_clock_gettime, clk as c_long, tp) as c_int;
    }
    std::mem::transmute::<*mut c_void, ClockGettime>(f)(clk, tp)
}

/// The offset now, rereading the file when the last read is 10 ms old.
/// Only raw system calls here: nothing that could come back through our
/// own clock or futex functions.
fn offset_ns() -> i64 {
    let mut now = timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer.
    unsafe { real_clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    let now = now.tv_sec * NS + now.tv_nsec;
    if now - LAST_READ_NS.load(Ordering::Relaxed) >= REREAD_NS {
        LAST_READ_NS.store(now, Ordering::Relaxed);
        OFFSET_NS.store(read_offset().unwrap_or(0), Ordering::Relaxed);
    }
    OFFSET_NS.load(Ordering::Relaxed)
}

fn read_offset() -> Option<i64> {
    // SAFETY: getenv with a valid C string; the result is only read.
    let path = unsafe { libc::getenv(CLOCK_FILE_ENV_C.as_ptr()) };
    if path.is_null() {
        return None;
    }
    let mut buf = [0u8; 64];
    // SAFETY: plain open/read/close on a buffer we own.
    let n = unsafe {
        let fd = libc::open(path as *const c_char, libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr() as *mut c_void, buf.len());
        libc::close(fd);
        n
    };
    if n <= 0 {
        return None;
    }
    parse_offset(std::str::from_utf8(&buf[..n as usize]).ok()?)
}

fn faked(clk: clockid_t) -> bool {
    matches!(clk, libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE) || monotonic_slot(clk).is_some()
}

/// The latest reading handed out of each monotonic clock, which the next
/// may not go below.
static LAST_MONOTONIC: [AtomicI64; 4] = [AtomicI64::new(0), AtomicI64::new(0), AtomicI64::new(0), AtomicI64::new(0)];

fn monotonic_slot(clk: clockid_t) -> Option<usize> {
    match clk {
        libc::CLOCK_MONOTONIC => Some(0),
        libc::CLOCK_MONOTONIC_COARSE => Some(1),
        libc::CLOCK_MONOTONIC_RAW => Some(2),
        libc::CLOCK_BOOTTIME => Some(3),
        _ => None,
    }
}

fn to_ns(t: &timespec) -> i64 {
    t.tv_sec * NS + t.tv_nsec
}

/// The faked reading of `clk`, given its real reading, in ns.
fn fake_ns(clk: clockid_t, real: i64) -> i64 {
    let shifted = real.saturating_add(offset_ns());
    match monotonic_slot(clk) {
        Some(slot) => {
            let last = LAST_MONOTONIC[slot].fetch_max(shifted, Ordering::Relaxed);
            last.max(shifted)
        }
        None => shifted,
    }
}

/// How far `clk`'s faked reading is ahead of its real one now: what an
/// absolute deadline on it must lose before the kernel sees it.
fn ahead_ns(clk: clockid_t) -> i64 {
    let mut t = timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer.
    if unsafe { real_clock_gettime(clk, &mut t) } != 0 {
        return 0;
    }
    let real = to_ns(&t);
    fake_ns(clk, real) - real
}

fn shift(t: &timespec, by_ns: i64) -> timespec {
    let total = (t.tv_sec as i128) * NS as i128 + t.tv_nsec as i128 + by_ns as i128;
    let total = total.max(0);
    timespec { tv_sec: (total / NS as i128) as time_t, tv_nsec: (total % NS as i128) as c_long }
}

/// # Safety
/// As `clock_gettime(2)`.
#[no_mangle]
pub unsafe extern "C" fn clock_gettime(clk: clockid_t, tp: *mut timespec) -> c_int {
    let r = real_clock_gettime(clk, tp);
    if r == 0 && !tp.is_null() && faked(clk) {
        let real = to_ns(&*tp);
        *tp = shift(&*tp, fake_ns(clk, real) - real);
    }
    r
}

/// # Safety
/// As `gettimeofday(2)`.
#[no_mangle]
pub unsafe extern "C" fn gettimeofday(tv: *mut timeval, _tz: *mut c_void) -> c_int {
    if tv.is_null() {
        return 0;
    }
    let mut t = timespec { tv_sec: 0, tv_nsec: 0 };
    let r = clock_gettime(libc::CLOCK_REALTIME, &mut t);
    (*tv).tv_sec = t.tv_sec;
    (*tv).tv_usec = (t.tv_nsec / 1000) as libc::suseconds_t;
    r
}

/// # Safety
/// As `time(2)`.
#[no_mangle]
pub unsafe extern "C" fn time(out: *mut time_t) -> time_t {
    let mut t = timespec { tv_sec: 0, tv_nsec: 0 };
    clock_gettime(libc::CLOCK_REALTIME, &mut t);
    if !out.is_null() {
        *out = t.tv_sec;
    }
    t.tv_sec
}

const FUTEX_WAIT_BITSET: c_int = 9;
const FUTEX_WAIT_REQUEUE_PI: c_int = 11;
const FUTEX_LOCK_PI2: c_int = 13;
const FUTEX_PRIVATE_FLAG: c_int = 128;
const FUTEX_CLOCK_REALTIME: c_int = 256;

type Syscall = unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;
static REAL_SYSCALL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// `syscall(2)`, through which Rust's std waits on futexes: an absolute
/// deadline (FUTEX_WAIT_BITSET and friends) was computed on our shifted
/// clock, so it is shifted back before the kernel sees it.
///
/// Declared with six fixed arguments: on the Linux ABIs we run on, the
/// integer arguments of a variadic call sit in the same registers.
///
/// # Safety
/// As `syscall(2)`.
#[no_mangle]
pub unsafe extern "C" fn syscall(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let real = std::mem::transmute::<*mut c_void, Syscall>(next(c"syscall", &REAL_SYSCALL));
    if n == libc::SYS_futex && a4 != 0 {
        let cmd = (a2 as c_int) & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
        if matches!(cmd, FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2) {
            let clk =
                if (a2 as c_int) & FUTEX_CLOCK_REALTIME != 0 { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
            let t = shift(&*(a4 as *const timespec), -ahead_ns(clk));
            return real(n, a1, a2, a3, &t as *const timespec as c_long, a5, a6);
        }
    }
    real(n, a1, a2, a3, a4, a5, a6)
}

type CondTimedwait = unsafe extern "C" fn(*mut c_void, *mut c_void, *const timespec) -> c_int;
type CondClockwait = unsafe extern "C" fn(*mut c_void, *mut c_void, clockid_t, *const timespec) -> c_int;
type ClockNanosleep = unsafe extern "C" fn(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;
static REAL_COND_TIMEDWAIT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static REAL_COND_CLOCKWAIT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static REAL_CLOCK_NANOSLEEP: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// RocksDB's timed waits: the deadline is absolute on a shifted clock.
///
/// # Safety
/// As `pthread_cond_timedwait(3)`.
#[no_mangle]
pub unsafe extern "C" fn pthread_cond_timedwait(c: *mut c_void, m: *mut c_void, t: *const timespec) -> c_int {
    let real = std::mem::transmute::<*mut c_void, CondTimedwait>(next(c"pthread_cond_timedwait", &REAL_COND_TIMEDWAIT));
    if t.is_null() {
        return real(c, m, t);
    }
    // The condition variable's clock is not known here; glibc's default,
    // and RocksDB's, is the wall clock.
    let t = shift(&*t, -ahead_ns(libc::CLOCK_REALTIME));
    real(c, m, &t)
}

/// # Safety
/// As `pthread_cond_clockwait(3)`.
#[no_mangle]
pub unsafe extern "C" fn pthread_cond_clockwait(
    c: *mut c_void,
    m: *mut c_void,
    clk: clockid_t,
    t: *const timespec,
) -> c_int {
    let real = std::mem::transmute::<*mut c_void, CondClockwait>(next(c"pthread_cond_clockwait", &REAL_COND_CLOCKWAIT));
    if t.is_null() || !faked(clk) {
        return real(c, m, clk, t);
    }
    let t = shift(&*t, -ahead_ns(clk));
    real(c, m, clk, &t)
}

/// # Safety
/// As `clock_nanosleep(2)`.
#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clk: clockid_t,
    flags: c_int,
    t: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let real = std::mem::transmute::<*mut c_void, ClockNanosleep>(next(c"clock_nanosleep", &REAL_CLOCK_NANOSLEEP));
    if t.is_null() || flags & libc::TIMER_ABSTIME == 0 || !faked(clk) {
        return real(clk, flags, t, rem);
    }
    let t = shift(&*t, -ahead_ns(clk));
    real(clk, flags, &t, rem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_as_the_nemesis_writes_them() {
        assert_eq!(parse_offset("+0.000\n"), Some(0));
        assert_eq!(parse_offset("-2.500"), Some(-2_500_000_000));
        assert_eq!(parse_offset("+10.007"), Some(10_007_000_000));
        assert_eq!(parse_offset("3"), Some(3 * NS));
        assert_eq!(parse_offset("0.000000001"), Some(1));
        for bad in ["", "+", "x", "1.2.3", "+-1", "1e3"] {
            assert_eq!(parse_offset(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn shifting_carries_nanoseconds_and_never_goes_below_zero() {
        let t = timespec { tv_sec: 10, tv_nsec: 900_000_000 };
        let s = shift(&t, 200_000_000);
        assert_eq!((s.tv_sec, s.tv_nsec), (11, 100_000_000));
        let s = shift(&t, -11 * NS);
        assert_eq!((s.tv_sec, s.tv_nsec), (0, 0));
    }
}
