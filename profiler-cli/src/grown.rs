//! `spanprof diff --fail-if-grown LIMIT`: the CI gate on two profiles. It compares
//! the same folded stacks the differential graph draws (same `--stacks`, `--weight`
//! and `--size-class`), stack by stack and in total, and fails when anything grew
//! by more than the limit, naming the stack that grew most.

use crate::folded::Weight;
use crate::report::human;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// How much growth is allowed: an amount in the weight's unit, or a percentage of
/// the "before" value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// A bare number: bytes, objects or refills, as the weight counts.
    Amount(u64),
    /// A size with a unit (`64KiB`, `4096B`): only for the byte weights.
    Bytes(u64),
    /// Percent of the stack's (or the total's) value before. A stack that did not
    /// exist before grew by an unbounded percentage: any allocation there fails.
    Percent(f64),
}

impl FromStr for Limit {
    type Err = String;

    /// `10%`, `2.5%`, a whole number (`4096`: bytes, or a count with the objects
    /// and refills weights), or a size with a unit as [`crate::load::parse_size`]
    /// reads it (`64KiB`, `1.5 MiB`, `10MB`).
    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        // clap names the option before this.
        let bad = || {
            "not a limit (give bytes like 1MiB or 4096, a count like 100, or a percentage like 10%)"
                .to_string()
        };
        if let Some(pct) = t.strip_suffix('%') {
            let v: f64 = pct.trim().parse().map_err(|_| bad())?;
            return if v.is_finite() && v >= 0.0 {
                Ok(Limit::Percent(v))
            } else {
                Err(bad())
            };
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse().map(Limit::Amount).map_err(|_| bad());
        }
        crate::load::parse_size(t).map(Limit::Bytes).ok_or_else(bad)
    }
}

/// The growth that broke the limit, as one line.
#[derive(Debug, PartialEq)]
pub struct Breach {
    /// The stack (`a;b;c`, as folded) or `None` for the total.
    pub stack: Option<String>,
    pub before: u64,
    pub after: u64,
    /// Other stacks over the limit as well.
    pub more: usize,
    unit: &'static str,
    limit: Limit,
}

/// `v` in `unit`: bytes as `4.7 KiB`, or exactly (`4799 B`) with `exact`.
fn amount(v: u64, unit: &str, exact: bool) -> String {
    match unit {
        "bytes" if exact => format!("{v} B"),
        "bytes" => human(v),
        _ => format!("{v} {unit}"),
    }
}

impl Limit {
    /// Checks that the limit fits `weight`: a size in bytes cannot bound objects or
    /// refills.
    pub fn fits(self, weight: Weight) -> Result<Limit, String> {
        match self {
            Limit::Bytes(_) if weight.count_name() != "bytes" => Err(format!(
                "--fail-if-grown: a size in bytes, but --weight {} counts {}; give a count or a percentage",
                weight.label(),
                weight.count_name()
            )),
            _ => Ok(self),
        }
    }
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.stack {
            Some(s) => format!("stack {}", crate::diff::row_name(s)),
            None => "the total".into(),
        };
        let grew = self.after - self.before;
        let pct = if self.before == 0 {
            "new".to_string()
        } else {
            format!("+{:.1} %", grew as f64 * 100.0 / self.before as f64)
        };
        let show = |exact| {
            let limit = match self.limit {
                Limit::Amount(n) | Limit::Bytes(n) => amount(n, self.unit, exact),
                Limit::Percent(p) => format!("{p} %"),
            };
            (amount(grew, self.unit, exact), limit)
        };
        // Rounded figures can look equal (`4.7 KiB` over a limit of `4.7 KiB`):
        // then both are given exactly.
        let (grew, limit) = match show(false) {
            (g, l) if g == l => show(true),
            rounded => rounded,
        };
        write!(
            f,
            "{what} grew by {grew} ({} -> {}, {pct}), over the limit of {limit}",
            amount(self.before, self.unit, false),
            amount(self.after, self.unit, false),
        )?;
        match self.more {
            0 => Ok(()),
            1 => write!(f, "; 1 more stack grew past it"),
            n => write!(f, "; {n} more stacks grew past it"),
        }
    }
}

fn over(limit: Limit, before: u64, after: u64) -> bool {
    let Some(grew) = after.checked_sub(before).filter(|g| *g > 0) else {
        return false;
    };
    match limit {
        Limit::Amount(n) | Limit::Bytes(n) => grew > n,
        Limit::Percent(p) => before == 0 || grew as f64 * 100.0 > p * before as f64,
    }
}

/// Checks `before` → `after` (folded stacks and their weights) against `limit`;
/// the total is checked first, then the stack that grew most is named.
pub fn check(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    weight: Weight,
    limit: Limit,
) -> Option<Breach> {
    let unit = weight.count_name();
    let total = |m: &BTreeMap<String, u64>| m.values().fold(0u64, |a, v| a.saturating_add(*v));
    let (tb, ta) = (total(before), total(after));
    let mut breaches: Vec<(&String, u64, u64)> = after
        .iter()
        .map(|(k, &a)| (k, before.get(k).copied().unwrap_or(0), a))
        .filter(|&(_, b, a)| over(limit, b, a))
        .collect();
    breaches.sort_by(|x, y| (y.2 - y.1).cmp(&(x.2 - x.1)).then(x.0.cmp(y.0)));
    let breach = |stack: Option<String>, before, after, more| Breach {
        stack,
        before,
        after,
        more,
        unit,
        limit,
    };
    if over(limit, tb, ta) {
        return Some(breach(None, tb, ta, breaches.len()));
    }
    let (&(k, b, a), rest) = breaches.split_first()?;
    Some(breach(Some(k.clone()), b, a, rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, u64)]) -> BTreeMap<String, u64> {
        entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn limits_parse_in_bytes_and_percent() {
        assert_eq!("4096".parse(), Ok(Limit::Amount(4096)));
        assert_eq!("64KiB".parse(), Ok(Limit::Bytes(65536)));
        assert_eq!("1.5 MiB".parse(), Ok(Limit::Bytes(1_572_864)));
        assert_eq!("10MB".parse(), Ok(Limit::Bytes(10_000_000)));
        assert_eq!("1EiB".parse(), Ok(Limit::Bytes(1 << 60)));
        // A size in bytes does not bound a count.
        assert!(Limit::Bytes(1024).fits(Weight::AllocObjects).is_err());
        assert!(Limit::Amount(1024).fits(Weight::AllocObjects).is_ok());
        assert!(Limit::Bytes(1024).fits(Weight::InuseBytes).is_ok());
        assert_eq!("10%".parse(), Ok(Limit::Percent(10.0)));
        assert_eq!(" 2.5 % ".parse(), Ok(Limit::Percent(2.5)));
        for bad in [
            "1.5",
            "0.4",
            "",
            "ten",
            "5 parsecs",
            "-3%",
            "%",
            "1e400",
            "99999999999GiB",
        ] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_stack_that_grew_most_is_named() {
        let before = map(&[("main;a", 1000), ("main;b", 1000), ("main;gone", 5000)]);
        let after = map(&[("main;a", 1500), ("main;b", 3000), ("main;new", 10)]);
        // The total shrank; two stacks grew past 400 bytes, b the most.
        let b = check(&before, &after, Weight::AllocBytes, Limit::Amount(400)).unwrap();
        assert_eq!(b.stack.as_deref(), Some("main;b"));
        assert_eq!((b.before, b.after, b.more), (1000, 3000, 1));
        assert_eq!(
            b.to_string(),
            "stack main > b grew by 2.0 KiB (1000 B -> 2.9 KiB, +200.0 %), over the limit of 400 B; 1 more stack grew past it"
        );
        assert_eq!(
            check(&before, &after, Weight::AllocBytes, Limit::Amount(2000)),
            None
        );
        // By percent, a new stack always counts.
        let b = check(&before, &after, Weight::AllocBytes, Limit::Percent(250.0)).unwrap();
        assert_eq!(b.stack.as_deref(), Some("main;new"));
        assert!(b.to_string().contains("new)"), "{b}");
        // Figures that round alike are given exactly.
        let b = check(
            &map(&[("a", 1000)]),
            &map(&[("a", 5799)]),
            Weight::AllocBytes,
            Limit::Bytes(4798),
        )
        .unwrap();
        assert!(
            b.to_string().contains("grew by 4799 B (") && b.to_string().contains("limit of 4798 B"),
            "{b}"
        );
    }

    #[test]
    fn the_total_is_checked_first() {
        let before = map(&[("a", 100), ("b", 100)]);
        let after = map(&[("a", 140), ("b", 140)]);
        let b = check(&before, &after, Weight::AllocObjects, Limit::Percent(30.0)).unwrap();
        assert_eq!(b.stack, None);
        assert_eq!(
            b.to_string(),
            "the total grew by 80 objects (200 objects -> 280 objects, +40.0 %), over the limit of 30 %; 2 more stacks grew past it"
        );
        assert_eq!(
            check(&before, &after, Weight::AllocObjects, Limit::Percent(40.0)),
            None
        );
    }
}
