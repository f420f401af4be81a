//! What the analysis reports: one [`Finding`] per allocation site (or per leaking
//! parameter, or per stack value moved into an escaping allocation), and the errors for
//! files it could not read or parse.
//!
//! Everything here is plain owned data so the `#[track_alloc]` macro can embed findings
//! as static data and the CLI can read them back from JSON.

use std::fmt;

/// The verdict of a finding, in Go's words where Go has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "json", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "json", serde(rename_all = "snake_case"))]
pub enum Kind {
    /// The allocation outlives the function: returned, stored, sent to another thread.
    Escapes,
    /// The allocation is never freed (`Box::leak`, `mem::forget`, `into_raw`).
    Leaks,
    /// The value flows somewhere the analysis cannot see through.
    MayEscape,
    /// The value dies in the function: a stack value, reused buffer or arena would do.
    DoesNotEscape,
    /// A stack value is moved into an allocation that escapes.
    MovedToHeap,
    /// A reference parameter flows to the function's result.
    LeakingParam,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "json", derive(serde::Serialize, serde::Deserialize))]
pub struct Finding {
    /// The file as given to the analysis.
    pub file: String,
    /// 1-based line of the allocation (or parameter, or stack value).
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// Enclosing function path: `f`, `Type::method`, `module::f`, `outer::inner`.
    pub function: String,
    /// Short text of the expression: `Box::new(SmallStruct { .. })`, `v.to_vec()`.
    pub expr: String,
    /// The verdict.
    pub kind: Kind,
    /// Why: `returned`, `stored in self.items`, `passed to consume`, `allocated in a loop`;
    /// empty when there is nothing to add.
    pub reason: String,
    /// The allocated type when the syntax names it: the pointee of `Box`/`Rc`/`Arc`, the
    /// element of a `Vec`/`VecDeque`/collection (`u8` for strings).
    #[cfg_attr(feature = "json", serde(rename = "type"))]
    pub ty: Option<String>,
    /// The site is inside a loop body (it allocates once per iteration).
    pub in_loop: bool,
    /// The chain of steps that led to the verdict (Go's `-m=2` explanation).
    pub flow: Vec<String>,
    /// The enclosing function (or its `impl` block) is marked
    /// `#[track_alloc(no_escape)]`: an escaping finding here fails that gate. Not part
    /// of the JSON form.
    #[cfg_attr(feature = "json", serde(skip))]
    pub gated: bool,
}

impl Finding {
    /// The message part of the Go-style line (everything after `path:line:col: `).
    pub fn message(&self) -> String {
        match self.kind {
            Kind::Escapes => format!("{} escapes to heap: {}", self.expr, self.reason),
            Kind::Leaks => format!("{} leaks: {}", self.expr, self.reason),
            Kind::MayEscape => format!("{} may escape: {}", self.expr, self.reason),
            Kind::DoesNotEscape if self.reason.is_empty() => {
                format!("{} does not escape", self.expr)
            }
            Kind::DoesNotEscape => format!("{} does not escape ({})", self.expr, self.reason),
            Kind::MovedToHeap => format!("moved to heap: {}", self.expr),
            Kind::LeakingParam => format!("leaking param: {} {}", self.expr, self.reason),
        }
    }
}

/// A source file that could not be parsed (or read); the rest of the tree is still analysed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "json", derive(serde::Serialize, serde::Deserialize))]
pub struct FileError {
    /// The file as given to the analysis.
    pub file: String,
    /// 1-based line of the problem (0 when unknown, e.g. the file could not be read).
    pub line: u32,
    /// 1-based column of the problem (0 when unknown).
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: error: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for FileError {}
