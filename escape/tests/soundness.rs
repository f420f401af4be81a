//! Probes for the mistakes of issue 11: each snippet is a shape where the analysis used
//! to say `does not escape` (or too little, or too much), with the exact Go-style lines
//! expected now. The rule they hold: when the analysis cannot prove a value dies it says
//! `may escape`, never `does not escape`.

use spanprof_escape::{Kind, analyze_file, render_text};

/// The rendered lines for `src`, without the `file:` prefix.
fn lines(src: &str) -> Vec<String> {
    let findings = analyze_file(src, "t.rs").unwrap_or_else(|e| panic!("{e}"));
    render_text(&findings, false)
        .lines()
        .map(|l| l.strip_prefix("t.rs:").unwrap_or(l).to_string())
        .collect()
}

const CASES: &[(&str, &[&str])] = &[
    // kind 1: `if let` on a `&mut` parameter binds a reference into the caller's memory (match ergonomics)
    (
        r#"fn f(o: &mut Option<Vec<String>>) { if let Some(v) = o { v.push(String::from("z")); } }"#,
        &["1:65: String::from(\"z\") escapes to heap: stored in o"],
    ),
    // kind 1: `match` on a `&mut` parameter
    (
        r#"fn f(o: &mut Option<Vec<String>>) { match o { Some(v) => v.push(format!("w")), None => {} } }"#,
        &["1:65: format!(..) escapes to heap: stored in o"],
    ),
    // kind 1: `&mut *p` reborrow of a raw pointer inside `unsafe`
    (
        r#"fn f(p: *mut Vec<String>) { let v = unsafe { &mut *p }; v.push(String::from("y")); }"#,
        &["1:64: String::from(\"y\") escapes to heap: stored in *p"],
    ),
    // kind 1: `entry(k).or_default()` hands out a `&mut` into the (returned) map
    (
        r#"fn f() -> HashMap<u32, Vec<String>> { let mut m = HashMap::new(); let e = m.entry(1).or_default(); e.push(String::from("x")); m }"#,
        &[
            "1:51: HashMap::new() (grown at line 1) escapes to heap: returned",
            "1:107: String::from(\"x\") escapes to heap: returned",
        ],
    ),
    // kind 1: `entry(k).or_default()` on the caller's map
    (
        r#"fn f(m: &mut HashMap<u32, Vec<String>>, k: u32) { m.entry(k).or_default().push(String::from("x")); }"#,
        &["1:80: String::from(\"x\") escapes to heap: stored in m"],
    ),
    // kind 1: callback user-data pointer cast back to the caller's collection
    (
        r#"unsafe extern "C" fn on_item(user_data: *mut c_void) { let items = &mut *(user_data as *mut Vec<String>); items.push(String::from("i")); }"#,
        &["1:118: String::from(\"i\") escapes to heap: stored in user_data"],
    ),
    // kind 1: a `&mut` borrow of a local is an alias: storing through it stores into the local
    (
        r#"fn f() -> Vec<Box<u8>> { let mut v = Vec::new(); let r = &mut v; r.push(Box::new(1u8)); v }"#,
        &[
            "1:38: Vec::new() (grown at line 1) escapes to heap: returned",
            "1:73: Box::new(1u8) escapes to heap: returned",
        ],
    ),
    // kind 1: `Option<&mut T>` parameter
    (
        r#"fn f(o: Option<&mut Vec<String>>) { if let Some(v) = o { v.push(String::from("x")); } }"#,
        &["1:65: String::from(\"x\") escapes to heap: stored in o"],
    ),
    // kind 1: an `Rc<RefCell<_>>` parameter is shared with the caller
    (
        r#"fn f(shared: Rc<RefCell<Vec<String>>>) { shared.borrow_mut().push(String::from("x")); }"#,
        &["1:67: String::from(\"x\") escapes to heap: stored in shared"],
    ),
    // kind 1: `mem::swap` puts a local into the caller's memory
    (
        r#"impl S { fn f(&mut self) { let mut v = vec![1u8]; std::mem::swap(&mut v, &mut self.buf); } }"#,
        &["1:40: vec![..] escapes to heap: stored in self.buf"],
    ),
    // kind 1: `mem::replace` stores its second argument
    (
        r#"impl S { fn f(&mut self) { let v = vec![1u8]; let _old = std::mem::replace(&mut self.buf, v); } }"#,
        &["1:36: vec![..] escapes to heap: stored in self.buf"],
    ),
    // kind 1: storing into the result of a call the analysis cannot see through
    (
        r#"fn f() { let mut w = make_writer(); w.items.push(String::from("x")); }"#,
        &["1:50: String::from(\"x\") may escape: stored in w.items"],
    ),
    // kind 1: a generic parameter taken by value may be a reference (`&mut Vec<_>: Extend`)
    (
        r#"fn f<E: Extend<String>>(mut out: E) { out.extend(vec![String::from("x")]); }"#,
        &[
            "1:50: vec![..] may escape: stored in out",
            "1:55: String::from(\"x\") may escape: stored in out",
        ],
    ),
    // kind 1: a closure parameter points where the receiver's elements are
    (
        r#"fn f(rows: &mut [Vec<String>]) { rows.iter_mut().for_each(|r| r.push(String::from("x"))); }"#,
        &["1:70: String::from(\"x\") escapes to heap: stored in rows"],
    ),
    // kind 2: `.next()` after `map` returns the closure's allocation
    (
        r#"fn f(words: &[&str]) -> Option<String> { words.iter().map(|s| s.to_string()).next() }"#,
        &["1:65: s.to_string() escapes to heap: returned"],
    ),
    // kind 2: `max_by_key`
    (
        r#"fn f(words: &[&str]) -> Option<String> { words.iter().map(|s| s.to_string()).max_by_key(|s| s.len()) }"#,
        &["1:65: s.to_string() escapes to heap: returned"],
    ),
    // kind 2: `filter_map` then `last`
    (
        r#"fn f(xs: &[u32]) -> Option<String> { xs.iter().filter_map(|x| (*x > 1).then(|| format!("{x}"))).last() }"#,
        &["1:80: format!(..) escapes to heap: returned"],
    ),
    // kind 2: `find` after `map`
    (
        r#"fn f(xs: &[&str]) -> Option<String> { xs.iter().map(|s| s.to_string()).find(|s| s.len() > 2) }"#,
        &["1:59: s.to_string() escapes to heap: returned"],
    ),
    // kind 2: `nth` and `reduce`
    (
        r#"fn f(xs: &[&str]) -> (Option<String>, Option<String>) { let a = xs.iter().map(|s| s.to_string()).nth(1); let b = xs.iter().map(|s| s.to_string()).reduce(|a, _| a); (a, b) }"#,
        &[
            "1:85: s.to_string() escapes to heap: returned",
            "1:134: s.to_string() escapes to heap: returned",
        ],
    ),
    // kind 2: items counted, not kept
    (
        r#"fn f(xs: &[&str]) -> usize { xs.iter().map(|s| s.to_string()).filter(|s| s.is_empty()).count() }"#,
        &["1:50: s.to_string() does not escape"],
    ),
    // kind 2: iterating an array yields its parts, not their contents
    (
        r#"fn f() -> String { let s1 = String::from("a"); let s2 = String::from("b"); for s in [s1, s2] { return s; } String::new() }"#,
        &[
            "1:29: String::from(\"a\") escapes to heap: returned",
            "1:57: String::from(\"b\") escapes to heap: returned",
        ],
    ),
    // kind 2: a tuple field is the part itself
    (
        r#"fn f() -> Box<u8> { let t = (Box::new(1u8), 2); let b = t.0; b }"#,
        &["1:30: Box::new(1u8) escapes to heap: returned"],
    ),
    // kind 3: a `move` closure printing a value inline captures it
    (
        r#"fn greeter() -> impl Fn() { let name = String::from("world"); move || println!("hello {name}") }"#,
        &["1:40: String::from(\"world\") escapes to heap: captured by a closure that is returned"],
    ),
    // kind 3: a detached thread printing an inline argument
    (
        r#"fn log_async(line: &str) { let line = line.to_string(); std::thread::spawn(move || eprintln!("{line}")); }"#,
        &["1:44: line.to_string() escapes to heap: captured by a spawned thread"],
    ),
    // kind 3: `{x:?}` inline in `format!`
    (
        r#"fn f() -> impl Fn() -> usize { let s = String::from("a"); move || format!("{s:?}").len() }"#,
        &[
            "1:40: String::from(\"a\") escapes to heap: captured by a closure that is returned",
            "1:67: format!(..) does not escape",
        ],
    ),
    // kind 3: an async block printing inline
    (
        r#"fn f() -> impl Future<Output = ()> { let s = String::from("a"); async move { println!("{s}") } }"#,
        &["1:46: String::from(\"a\") escapes to heap: captured by a closure that is returned"],
    ),
    // kind 3: the place of a compound assignment is a use
    (
        r#"fn f() { let c = Arc::new(Mutex::new(0u32)); let c2 = c.clone(); std::thread::spawn(move || { *c2.lock().unwrap() += 1; }); }"#,
        &["1:18: Arc::new(..) escapes to heap: captured by a spawned thread"],
    ),
    // kind 3: an error built in `ok_or_else` and returned with `?`
    (
        r#"fn f(m: &HashMap<u32, u32>) -> Result<u32, String> { let v = m.get(&1).ok_or_else(|| format!("missing"))?; Ok(*v) }"#,
        &["1:86: format!(..) escapes to heap: returned"],
    ),
    // kind 3: an error built in `map_err` and returned with `?`
    (
        r#"fn f(s: &str) -> Result<u32, String> { let n = s.parse::<u32>().map_err(|e| e.to_string())?; Ok(n) }"#,
        &["1:79: e.to_string() escapes to heap: returned"],
    ),
    // kind 3: `Err(..)` kept in a binding, returned by a later `?`
    (
        r#"fn f(c: bool) -> Result<u8, Vec<u8>> { let r: Result<u8, Vec<u8>> = if c { Err(vec![1]) } else { Ok(1) }; let x = r?; Ok(x) }"#,
        &["1:80: vec![..] escapes to heap: returned"],
    ),
    // kind 4: `into_iter().map(..).collect()`: items the closure drops die; the buffer may be reused in place
    (
        r#"fn f() -> Vec<usize> { let v = vec![String::from("a")]; v.into_iter().map(|s| s.len()).collect() }"#,
        &[
            "1:32: vec![..] may escape: buffer may be reused by the collect at 1:88 (in place), which escapes",
            "1:37: String::from(\"a\") does not escape",
            "1:88: v.into_iter().map(..).collect() escapes to heap: returned",
        ],
    ),
    // kind 4: items the closure passes on escape with the result
    (
        r#"fn f() -> Vec<String> { let v = vec![String::from("a")]; v.into_iter().map(|s| s).collect() }"#,
        &[
            "1:33: vec![..] may escape: buffer may be reused by the collect at 1:83 (in place), which escapes",
            "1:38: String::from(\"a\") escapes to heap: returned",
            "1:83: v.into_iter().map(..).collect() escapes to heap: returned",
        ],
    ),
    // kind 4: a consumed map's table dies (never reused)
    (
        r#"fn f() -> Vec<u32> { let mut m = HashMap::new(); m.insert(1u32, 2u32); m.into_iter().map(|(k, _)| k).collect() }"#,
        &[
            "1:34: HashMap::new() (grown at line 1) does not escape",
            "1:102: m.into_iter().map(..).collect() escapes to heap: returned",
        ],
    ),
    // kind 4: a consumed collection whose result dies
    (
        r#"fn f() -> usize { let v = vec![String::from("a")]; let w: Vec<String> = v.into_iter().collect(); w.len() }"#,
        &[
            "1:27: vec![..] does not escape",
            "1:32: String::from(\"a\") does not escape",
            "1:87: v.into_iter().collect() does not escape",
        ],
    ),
    // kind 5: by-reference `str` methods
    (
        r#"fn f(s: &str) -> usize { let t = s.to_string(); let u = t.trim_end(); let (a, b) = t.split_once(',').unwrap_or(("", "")); u.len() + a.len() + b.len() }"#,
        &["1:36: s.to_string() does not escape"],
    ),
    // kind 5: `as_deref`
    (
        r#"fn f() -> usize { let o = Some(String::from("q")); o.as_deref().map(|x| x.len()).unwrap_or(0) }"#,
        &["1:32: String::from(\"q\") does not escape"],
    ),
    // kind 5: `RefCell::new` holds its argument
    (
        r#"fn f() -> RefCell<Vec<u8>> { let v = vec![1u8]; RefCell::new(v) }"#,
        &["1:38: vec![..] escapes to heap: returned"],
    ),
    // kind 5: `Mutex::new` holds its argument, which dies with it
    (
        r#"fn f() -> usize { let v = vec![1u8]; let m = Mutex::new(v); let n = m.lock().unwrap().len(); n }"#,
        &["1:27: vec![..] does not escape"],
    ),
    // kind 5: a crate-local macro that only formats borrows
    (
        r#"macro_rules! trace { ($($arg:tt)*) => { eprintln!($($arg)*) }; }
fn f() -> usize { let v = vec![1u8]; trace!("{:?}", v); v.len() }"#,
        &["2:27: vec![..] does not escape"],
    ),
    // kind 5: a `&self` trait method borrows
    (
        r#"trait Named { fn name(&self) -> &str; }
fn f() -> usize { let s = String::from("a"); s.name().len() }"#,
        &["2:27: String::from(\"a\") does not escape"],
    ),
    // kind 5: `Cell::new` then `into_inner`
    (
        r#"fn f() -> usize { let c = Cell::new(Box::new(1u8)); let b = c.into_inner(); *b as usize }"#,
        &["1:37: Box::new(1u8) does not escape"],
    ),
    // kind 5: `&x` in an unknown macro is a borrow
    (
        r#"fn f() -> usize { let v = vec![1u8]; my_log!(&v); v.len() }"#,
        &["1:27: vec![..] does not escape"],
    ),
    // kind 6: a struct literal pushed into a `&mut Vec` parameter is moved to heap
    (
        r#"fn f(out: &mut Vec<Point>) { out.push(Point { x: 1, y: 2 }); }"#,
        &["1:39: moved to heap: Point { .. }"],
    ),
    // kind 6: `impl Fn(&T) -> U` does not borrow the parameters
    (
        r#"fn f(v: &[u8]) -> impl Fn(&u8) -> usize { |x| *x as usize }"#,
        &[],
    ),
    // kind 6: `+ '_` does
    (
        r#"fn f(v: &[u8]) -> Box<dyn Fn(&u8) -> bool + '_> { Box::new(move |x| v.contains(x)) }"#,
        &[
            "1:6: leaking param: v to result ~r0 level=0",
            "1:51: Box::new(..) escapes to heap: returned",
        ],
    ),
    // kind 6: a function pointer result
    (r#"fn f(v: &str) -> fn(&str) -> usize { str::len }"#, &[]),
    // soundness: a closure called where it is written gives what it returns
    (
        r#"fn f() -> Box<u8> { let b = Box::new(1u8); let x = (move || b)(); x }"#,
        &["1:29: Box::new(1u8) escapes to heap: returned"],
    ),
    // kind 1: a reference reassigned to the caller's memory points outside from then on
    (
        r#"impl S { fn f(&mut self) { let mut r: &mut Vec<Box<u8>>; r = &mut self.items; r.push(Box::new(2u8)); } }"#,
        &["1:86: Box::new(2u8) escapes to heap: stored in self.items"],
    ),
    // kind 1: an alias made in an inner block
    (
        r#"fn f() -> Vec<Box<u8>> { let mut outer = Vec::new(); { let inner = &mut outer; inner.push(Box::new(3u8)); } outer }"#,
        &[
            "1:42: Vec::new() (grown at line 1) escapes to heap: returned",
            "1:91: Box::new(3u8) escapes to heap: returned",
        ],
    ),
    // kind 1: a thread-local reached in a `with` closure
    (
        r#"fn f() { let s = String::from("q"); CACHE.with(|c| c.borrow_mut().push(s)); }"#,
        &["1:18: String::from(\"q\") escapes to heap: stored in CACHE"],
    ),
    // kind 1: a guard bound from the caller's `Mutex`
    (
        r#"fn f(x: &Mutex<Vec<String>>) { let s = String::from("m"); let mut g = x.lock().unwrap(); g.push(s); }"#,
        &["1:40: String::from(\"m\") escapes to heap: stored in x"],
    ),
    // kind 1: `while let` on a `&mut Option` parameter
    (
        r#"fn f(o: &mut Option<Box<Node>>) { while let Some(n) = o { n.name = String::from("w"); break; } }"#,
        &["1:68: String::from(\"w\") escapes to heap: stored in n.name"],
    ),
    // kind 1: a local `RefCell` holding a vector dies with it
    (
        r#"fn f() -> usize { let c = RefCell::new(Vec::new()); c.borrow_mut().push(Box::new(7u8)); c.borrow().len() }"#,
        &[
            "1:40: Vec::new() (grown at line 1) does not escape",
            "1:73: Box::new(7u8) does not escape",
        ],
    ),
    // kind 4: `next()` on a consumed vector's iterator returns the element, not the buffer
    (
        r#"fn f() -> String { let v = vec![String::from("y")]; let mut it = v.into_iter(); it.next().unwrap() }"#,
        &[
            "1:28: vec![..] does not escape",
            "1:33: String::from(\"y\") escapes to heap: returned",
        ],
    ),
    // kind 4: `Vec::extend` of a local vector keeps the items; the consumed buffer dies
    (
        r#"fn f() -> Vec<String> { let mut out = Vec::new(); let v = vec![String::from("f")]; out.extend(v); out }"#,
        &[
            "1:39: Vec::new() (grown at line 1) escapes to heap: returned",
            "1:59: vec![..] does not escape",
            "1:64: String::from(\"f\") escapes to heap: returned",
        ],
    ),
    // kind 4: `.map(Cow::Owned)` hands the items on
    (
        r#"fn f(s: &str) -> Option<Cow<'static, str>> { Some(s).map(|s| s.trim().to_owned()).map(Cow::Owned) }"#,
        &["1:71: s.trim().to_owned() escapes to heap: returned"],
    ),
    // kind 3: `Result::map` passes an `Err` through
    (
        r#"fn f(c: bool) -> Result<u8, String> { let r: Result<u8, String> = if c { Err(String::from("e")) } else { Ok(1) }; r.map(|x| x + 1) }"#,
        &["1:78: String::from(\"e\") escapes to heap: returned"],
    ),
    // kind 3: `and_then` then `?` returns the error
    (
        r#"fn g(c: bool) -> Result<u8, String> { let r: Result<u8, String> = if c { Err(format!("e")) } else { Ok(1) }; let y = r.and_then(|x| Ok(x + 1))?; Ok(y) }"#,
        &["1:78: format!(..) escapes to heap: returned"],
    ),
    // soundness: an unsizing cast moves the box
    (
        r#"fn f() -> Box<dyn Fn()> { let b = Box::new(|| ()) as Box<dyn Fn()>; b }"#,
        &["1:35: Box::new(..) escapes to heap: returned"],
    ),
    // kind 3: a boxed error cast in `map_err` and returned by `?`
    (
        r#"fn g(s: &str) -> Result<u32, Box<dyn std::error::Error>> { let n = s.parse::<u32>().map_err(|e| Box::new(e) as Box<dyn std::error::Error>)?; Ok(n) }"#,
        &["1:97: Box::new(e) escapes to heap: returned"],
    ),
    // kind 1: `append(&mut tmp)` moves the elements of a local into the caller's vector
    (
        r#"impl S { fn f(&mut self) { let mut tmp = vec![String::from("a")]; self.items.append(&mut tmp); } }"#,
        &[
            "1:42: vec![..] does not escape",
            "1:47: String::from(\"a\") escapes to heap: stored in self.items",
        ],
    ),
    // soundness: `break 'label value` out of a labelled block
    (
        r#"fn f(c: bool) -> Box<u8> { let x = 'blk: { if c { break 'blk Box::new(1u8); } Box::new(2u8) }; x }"#,
        &[
            "1:62: Box::new(1u8) escapes to heap: returned",
            "1:79: Box::new(2u8) escapes to heap: returned",
        ],
    ),
    // soundness: `break 'outer value` from an inner loop
    (
        r#"fn g() -> Box<u8> { let x = 'outer: loop { loop { break 'outer Box::new(3u8); } }; x }"#,
        &["1:64: Box::new(3u8) escapes to heap: returned"],
    ),
    // kind 6: a named stack value pushed into a `&mut Vec` parameter is moved to heap
    (
        r#"fn f(out: &mut Vec<Point>) { let p = Point { x: 1 }; out.push(p); }"#,
        &["1:34: moved to heap: p"],
    ),
    // precision: an argument of an unseen constructor is returned with its result (Go: leaks to the heap)
    (
        r#"fn f(v: char) -> Result<Key, Error> { Ok(Key::new(v.to_string())) }"#,
        &["1:53: v.to_string() escapes to heap: returned"],
    ),
    // precision: a builder method returns its receiver with the argument in it
    (
        r#"fn f(c: Candidate, id: &str) -> Candidate { c.id(Some(format!("arg::{id}"))) }"#,
        &["1:55: format!(..) escapes to heap: returned"],
    ),
    // precision: a function returning a number returns nothing owned
    (
        r#"fn f() -> usize { let b = Box::new(Big::new()); b.process() }"#,
        &["1:27: Box::new(..) may escape: passed to b.process"],
    ),
    // soundness: a `Weak` stored outside keeps the `Rc`'s allocation, not the value in it
    (
        r#"impl S { fn f(&mut self) { let rc = Rc::new(vec![1u8]); self.w = Rc::downgrade(&rc); } }"#,
        &[
            "1:37: Rc::new(..) may escape: a Weak to it may keep the allocation",
            "1:45: vec![..] does not escape",
        ],
    ),
];

#[test]
fn issue_11_probes() {
    let mut failed = Vec::new();
    for (i, (src, expected)) in CASES.iter().enumerate() {
        let got = lines(src);
        if got != *expected {
            failed.push(format!(
                "case {i}:\n{src}\n  got: {got:#?}\n want: {expected:#?}"
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The detached thread of the issue fails the `no_escape` gate (`spanprof escape --check`
/// fails on gated findings that escape, leak or may escape).
#[test]
fn detached_thread_printing_inline_fails_the_gate() {
    let src = "#[track_alloc(no_escape)]\nfn log_async(line: &str) {\n    let line = line.to_string();\n    std::thread::spawn(move || eprintln!(\"{line}\"));\n}\n";
    let found = analyze_file(src, "t.rs").unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].gated);
    assert_eq!(found[0].kind, Kind::Escapes);
    assert_eq!(found[0].reason, "captured by a spawned thread");
}

/// `-v` names why a value may escape when the analysis cannot see where it is stored.
#[test]
fn may_escape_says_why_in_verbose_mode() {
    let src = "fn f() { let mut w = make_writer(); w.items.push(String::from(\"x\")); }";
    let found = analyze_file(src, "t.rs").unwrap();
    let text = render_text(&found, true);
    assert!(text.contains("may escape: stored in w.items"), "{text}");
    assert!(
        text.contains("(memory this function may not own)"),
        "{text}"
    );
}
